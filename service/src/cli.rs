//! The legacy command-line flags, kept so existing service units and scripts work unchanged.
//!
//! Go's `flag` package accepted `-conf`, `--conf`, `-conf=x` and `--conf=x` alike; so do we.
//! `-c`/`--config` (and, for federation, `--conf`) name the config file, `--migrate-db` runs the
//! migrations and exits, `-v`/`--version` prints the version.

use std::path::PathBuf;

/// The parsed flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    /// The config file given on the command line.
    pub config: Option<PathBuf>,
    /// Migrate the database and exit.
    pub migrate_db: bool,
    /// Print the version and exit.
    pub version: bool,
    /// Print usage and exit.
    pub help: bool,
}

impl Args {
    /// Parses flags (without the program name).
    ///
    /// # Errors
    /// A message naming the unknown flag or the flag missing its value.
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Self, String> {
        let mut parsed = Self::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let trimmed = arg.trim_start_matches('-');
            if trimmed.len() == arg.len() {
                return Err(format!("unexpected argument {arg:?}"));
            }
            let (name, inline_value) = match trimmed.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (trimmed, None),
            };
            match name {
                "c" | "config" | "conf" => {
                    let value = inline_value
                        .or_else(|| args.next())
                        .ok_or_else(|| format!("{arg} needs a file path"))?;
                    parsed.config = Some(PathBuf::from(value));
                }
                "migrate-db" => parsed.migrate_db = true,
                "v" | "version" => parsed.version = true,
                "h" | "help" => parsed.help = true,
                _ => return Err(format!("unknown flag {arg:?}")),
            }
        }
        Ok(parsed)
    }

    /// The config file to read: the flag's, else `default_name` in the working directory when it
    /// exists, else none (configuration from the environment only).
    pub fn config_file(&self, default_name: &str) -> Option<PathBuf> {
        self.config.clone().or_else(|| {
            let default = PathBuf::from(default_name);
            default.exists().then_some(default)
        })
    }
}

/// The usage text shared by the three binaries.
pub fn usage(program: &str, default_config: &str) -> String {
    format!(
        "usage: {program} [-c|--config FILE] [--migrate-db] [-v|--version]\n\n\
         -c, --config FILE  configuration file (default ./{default_config} when present;\n\
         \x20                  every key can also come from {}__SECTION__KEY variables)\n\
         --migrate-db       apply database migrations and exit\n\
         -v, --version      print the version and exit\n",
        program.to_uppercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        Args::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn legacy_spellings_all_work() {
        for args in [
            &["-c", "f.cfg"][..],
            &["--config", "f.cfg"],
            &["--conf", "f.cfg"],
            &["-conf=f.cfg"],
            &["-c=f.cfg"],
            &["--config=f.cfg"],
        ] {
            assert_eq!(
                parse(args).unwrap().config,
                Some(PathBuf::from("f.cfg")),
                "{args:?}"
            );
        }
        let args = parse(&["--migrate-db", "-v"]).unwrap();
        assert!(args.migrate_db && args.version);
    }

    #[test]
    fn mistakes_are_named() {
        assert!(parse(&["--confg", "x"]).unwrap_err().contains("--confg"));
        assert!(parse(&["-c"]).unwrap_err().contains("needs a file path"));
        assert!(parse(&["stray"]).unwrap_err().contains("stray"));
    }
}
