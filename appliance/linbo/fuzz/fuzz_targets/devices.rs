//! devices.csv: never panic; whatever parses must survive render → parse.
#![no_main]

use bootbox_linbo::devices;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(parsed) = devices::parse(&text) {
        let once = devices::render(&parsed.records);
        let again = match devices::parse(&once) {
            Ok(d) => d,
            Err(e) => panic!("rendered devices.csv does not parse: {e}\n{once}"),
        };
        assert_eq!(
            again.records, parsed.records,
            "round trip changed the records"
        );
        assert_eq!(
            devices::render(&again.records),
            once,
            "render is not stable"
        );
    }
});
