//! `demo [--keep-running] [--dir DIR] [--peering sep3|sep31]`: two banks exchange a compliance
//! payment on a sandbox network (over SEP-3, or SEP-31 with SEP-10 and SEP-12), narrated step
//! by step. Exit 0 when bob's back office recorded the credit.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let mut options = demo::Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--keep-running" => options.keep_running = true,
            "--dir" => options.work_dir = args.next().map(Into::into),
            "--peering" => match args.next().as_deref() {
                Some("sep3") => options.peering = compliance::sep31::Protocol::Sep3,
                Some("sep31") => options.peering = compliance::sep31::Protocol::Sep31,
                _ => {
                    eprintln!("usage: demo [--keep-running] [--dir DIR] [--peering sep3|sep31]");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!("usage: demo [--keep-running] [--dir DIR] [--peering sep3|sep31]");
                return ExitCode::from(2);
            }
        }
    }
    if std::env::var_os("RUST_LOG").is_some() {
        service::telemetry::init(Default::default());
    }
    match demo::run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("\ndemo failed: {reason}");
            ExitCode::FAILURE
        }
    }
}
