//! start.conf: never panic; whatever parses must survive render → parse.
#![no_main]

use bootbox_linbo::startconf::StartConf;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(parsed) = StartConf::parse(&text) {
        let once = parsed.conf.render();
        let again = match StartConf::parse(&once) {
            Ok(p) => p,
            Err(e) => panic!("rendered start.conf does not parse: {e}\n{once}"),
        };
        assert_eq!(again.conf, parsed.conf, "round trip changed the document");
        assert_eq!(again.conf.render(), once, "render is not stable");
    }
});
