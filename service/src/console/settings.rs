//! `[console]`: where the operations console listens and who may sign in.

use serde::Deserialize;

use crate::Secret;

/// What a console user may do beyond reading. Reading is every signed-in user's: a role only
/// adds actions, so that the one who watches need not be the one who acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads every page, changes nothing.
    Viewer,
    /// Delivers failed payments again (Reprocess).
    Operator,
    /// Approves and cancels batches.
    Approver,
    /// Adds to and removes from the compliance allow lists.
    ComplianceOfficer,
}

impl Role {
    /// The config and session spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Approver => "approver",
            Self::ComplianceOfficer => "compliance_officer",
        }
    }

    /// The role spelled `text`, if any.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Viewer,
            Self::Operator,
            Self::Approver,
            Self::ComplianceOfficer,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }

    /// How the console names it to people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Approver => "approver",
            Self::ComplianceOfficer => "compliance officer",
        }
    }
}

/// One `[[console.users]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleUser {
    /// The name typed at sign-in, and written in the audit table.
    pub name: String,
    /// An argon2 PHC string (`$argon2id$v=19$…`), as `<server> console hash-password` prints.
    pub password_hash: Secret<String>,
    /// What the user may do besides reading (none: a viewer).
    #[serde(default)]
    pub roles: Vec<Role>,
}

/// `[console]`. Absent, or without `port`, there is no console listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSettings {
    /// The console's own port (off when absent).
    #[serde(default)]
    pub port: Option<u16>,
    /// Interface to listen on; loopback by default (reach it through an SSH tunnel or a TLS
    /// proxy on the host).
    #[serde(default = "loopback")]
    pub bind_address: String,
    /// Who may sign in.
    #[serde(default)]
    pub users: Vec<ConsoleUser>,
    /// A token accepted at sign-in in place of a user and password (blank: none); it signs in
    /// as `admin-token` with `admin_token_roles`.
    #[serde(default, deserialize_with = "crate::secret::non_empty")]
    pub admin_token: Option<Secret<String>>,
    /// The roles of whoever signs in with `admin_token` (default: none, a viewer).
    #[serde(default)]
    pub admin_token_roles: Vec<Role>,
    /// How long a session lasts without being used again.
    #[serde(default = "default_session_minutes")]
    pub session_minutes: u32,
    /// Marks the session cookie `Secure`: set it when the console is reached over HTTPS (a TLS
    /// proxy in front of it), so the browser never sends the cookie in clear.
    #[serde(default)]
    pub secure_cookies: bool,
}

fn loopback() -> String {
    "127.0.0.1".to_owned()
}

fn default_session_minutes() -> u32 {
    480
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            port: None,
            bind_address: loopback(),
            users: Vec::new(),
            admin_token: None,
            admin_token_roles: Vec::new(),
            session_minutes: default_session_minutes(),
            secure_cookies: false,
        }
    }
}

impl ConsoleSettings {
    /// What is wrong with the section, if anything: a console that nobody can sign in to, a
    /// password hash that is not argon2, a user named twice, a short token.
    ///
    /// # Errors
    /// The first problem, naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.port.is_none() {
            return Ok(());
        }
        if self.users.is_empty() && self.admin_token.is_none() {
            return Err("set [[console.users]] or admin_token, or nobody can sign in".into());
        }
        for (i, user) in self.users.iter().enumerate() {
            let length = user.name.chars().count();
            if !(1..=64).contains(&length) || user.name.trim() != user.name {
                return Err(format!(
                    "users[{i}].name: 1 to 64 characters, without spaces around them"
                ));
            }
            if user.name == super::TOKEN_USER {
                return Err(format!(
                    "users[{i}].name: {:?} is the admin token's",
                    user.name
                ));
            }
            if self.users[..i].iter().any(|u| u.name == user.name) {
                return Err(format!("users: {:?} appears twice", user.name));
            }
            if argon2::PasswordHash::new(user.password_hash.expose())
                .map(|h| !h.algorithm.as_str().starts_with("argon2"))
                .unwrap_or(true)
            {
                return Err(format!(
                    "users[{i}].password_hash: not an argon2 hash (make one with \
                     `<server> console hash-password`)"
                ));
            }
        }
        if let Some(token) = &self.admin_token
            && token.expose().len() < 20
        {
            return Err("admin_token: at least 20 characters".into());
        }
        if self.session_minutes == 0 {
            return Err("session_minutes: at least 1".into());
        }
        Ok(())
    }

    /// What is accepted but weak: a console reachable from other hosts whose cookies would
    /// travel in clear.
    pub fn warnings(&self) -> Vec<String> {
        let loopback = self
            .bind_address
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
            || self.bind_address == "localhost";
        if self.port.is_some() && !loopback && !self.secure_cookies {
            vec![format!(
                "listening on {} without secure_cookies: serve it through a TLS proxy and set \
                 secure_cookies = true, or bind it to 127.0.0.1",
                self.bind_address
            )]
        } else {
            Vec::new()
        }
    }
}
