//! Feeds arbitrary bytes to the lvs.cf parser and checker: neither may panic, and the
//! lossless document must give back exactly the bytes it was read from.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal::config::{self, KernelFeatures, parse, resolve::StaticResolver, write};

fuzz_target!(|data: &[u8]| {
    let resolver = StaticResolver::default();
    let parsed = parse::parse(data, &resolver);
    assert_eq!(parsed.document.to_bytes(), data, "the document lost bytes");
    let loaded = config::check(data, &resolver, &KernelFeatures::unknown());
    assert_eq!(loaded.document.to_bytes(), data);
    if !parsed.has_errors() {
        // An accepted file written back unchanged is the same file.
        let unchanged = write::update(&parsed.document, &parsed.config, &parsed.config, &resolver)
            .expect("an unchanged model writes");
        assert_eq!(unchanged, data);
    }
});
