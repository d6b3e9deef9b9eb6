//! Benchmark helper: reads every file in a directory as a start.conf, then
//! times parse → render → parse over all of them and checks the round-trip.
//! Prints one JSON line: `{"files":N,"bytes":B,"seconds":S}`.
//!
//! Used by `scripts/bench/foundation`.

use std::time::Instant;

use bootbox_linbo::startconf::StartConf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: startconf_roundtrip DIR")?;
    let mut texts = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        texts.push(std::fs::read_to_string(entry?.path())?);
    }
    let bytes: usize = texts.iter().map(String::len).sum();
    let start = Instant::now();
    for text in &texts {
        let first = StartConf::parse(text).map_err(|e| e.to_string())?.conf;
        let rendered = first.render();
        let second = StartConf::parse(&rendered).map_err(|e| e.to_string())?.conf;
        if first != second {
            return Err("round-trip changed a start.conf".into());
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{{\"files\":{},\"bytes\":{bytes},\"seconds\":{seconds:.6}}}",
        texts.len()
    );
    Ok(())
}
