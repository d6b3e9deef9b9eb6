//! .info: never panic; whatever parses must survive render → parse.
#![no_main]

use bootbox_linbo::info::ImageInfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(info) = ImageInfo::parse(&text) {
        let once = info.render();
        let again = match ImageInfo::parse(&once) {
            Ok(i) => i,
            Err(e) => panic!("rendered .info does not parse: {e}\n{once}"),
        };
        assert_eq!(again, info, "round trip changed the info");
        assert_eq!(again.render(), once, "render is not stable");
    }
});
