//! Runs the federation server on the sample config in `federation/sample/`, creating its SQLite
//! table first, and prints how to query it. `cargo run -p federation --example sample`.

use std::path::Path;

use diesel::connection::SimpleConnection;
use federation::{Application, FederationConfig};
use service::Database;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample");
    let config = FederationConfig::load(Some(&dir.join("federation.cfg")))?;
    service::telemetry::init(config.log_format);
    let seed = std::fs::read_to_string(dir.join("people.sql"))?;
    Database::connect(&config.database)?.run_blocking(move |conn| {
        conn.batch_execute(&seed)?;
        Ok(())
    })?;
    let app = Application::build(config).await?;
    let url = app.url();
    println!("federation listening on {url}, answering from federation-sample.db\n");
    println!("  curl '{url}/federation?q=alice*stellar.org&type=name'");
    println!(
        "  curl '{url}/federation?q=GD2GJPL3UOK5LX7TWXOACK2ZPWPFSLBNKL3GTGH6BLBNISK4BGWMFBBG&type=id'"
    );
    println!("  curl '{url}/federation?q=nobody*stellar.org&type=name'\n");
    println!("Ctrl-C stops it.");
    app.run_until_stopped().await?;
    Ok(())
}
