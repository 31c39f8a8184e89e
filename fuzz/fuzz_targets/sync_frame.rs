//! Arbitrary bytes through the sync wire decoder: `SyncRequest::decode`,
//! `SyncResponse::decode` and `Version::decode`. Nothing may panic, and what
//! decodes must encode back to the same bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use orrery_sync::Version;
use orrery_sync::protocol::{SyncRequest, SyncResponse};

fuzz_target!(init: orrery_fuzz::init(), |data: &[u8]| {
    orrery_fuzz::check(|| decode(data));
});

fn decode(data: &[u8]) {
    let request = SyncRequest::decode(data);
    let response = SyncResponse::decode(data);
    assert!(
        request.is_err() || response.is_err(),
        "one frame decoded as both a request and a response"
    );
    if let Ok(request) = &request {
        assert_eq!(
            request.encode(),
            data,
            "a decoded request re-encodes differently"
        );
        version(&request.client_version);
        version(&request.updates);
    }
    if let Ok(response) = &response {
        assert_eq!(
            response.encode(),
            data,
            "a decoded response re-encodes differently"
        );
        version(&response.server_version);
        version(&response.updates);
    }
    version(data);
}

/// A version that decodes survives a round trip and can be compared.
fn version(bytes: &[u8]) {
    let Ok(version) = Version::decode(bytes) else {
        return;
    };
    let again = Version::decode(&version.encode()).expect("an encoded version decodes");
    assert_eq!(
        again, version,
        "a version changed in an encode/decode round trip"
    );
    assert_eq!(version.operations_missing_from(&version), 0);
    let _ = version.operations_missing_from(&Version::default());
}
