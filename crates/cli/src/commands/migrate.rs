//! `usher migrate --from sqlite://… --to postgres://…`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use usher_server::settings::DatabaseUrl;

use crate::MigrateArgs;

/// Copies the SQLite database into the PostgreSQL one (see `usher_store::copy`), with a
/// progress bar on a terminal, and prints the rows copied per table.
pub fn run(args: &MigrateArgs) -> anyhow::Result<()> {
    let (from, to) = (DatabaseUrl::new(&args.from), DatabaseUrl::new(&args.to));
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{msg:18} {bar:40.cyan/blue} {pos}/{len} rows")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut progress = |table: &str, done: u64, total: u64| {
        bar.set_message(table.to_owned());
        bar.set_length(total);
        bar.set_position(done);
    };
    let copied = super::runtime()?.block_on(usher_store::copy::sqlite_to_postgres(
        from.expose(),
        to.expose(),
        args.replace,
        &mut progress,
    ));
    bar.finish_and_clear();
    let report = copied.map_err(|error| anyhow::Error::new(error).context(format!("cannot copy {from} into {to}")))?;
    println!("Copied {from} into {to}:");
    for (table, rows) in &report.tables {
        println!("  {table:<18} {rows:>9}");
    }
    println!();
    println!("Start every instance with DATABASE_URL set to the PostgreSQL database; stop using the SQLite file.");
    Ok(())
}
