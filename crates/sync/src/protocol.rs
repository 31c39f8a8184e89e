//! The sync wire format: one binary frame each way per graph and round trip.
//!
//! ```text
//! frame   = magic "ORSY" | format u8 | kind u8 | field | field
//! field   = length u32 (little endian) | bytes
//! request = kind 1: client version vector, updates the server has not acknowledged
//! reply   = kind 2: server version vector, updates the client lacks
//! ```
//!
//! Decoding never panics and never allocates more than the input's length:
//! every length is checked against what is left before it is used.

/// The four bytes every frame starts with.
pub const MAGIC: &[u8; 4] = b"ORSY";
/// The format this build speaks. Frames of another format are refused with a
/// request to update.
pub const FORMAT_VERSION: u8 = 1;
/// The largest frame the server accepts.
pub const MAX_FRAME_BYTES: usize = 8 * 1024 * 1024;
/// HTTP content type of frames.
pub const CONTENT_TYPE: &str = "application/vnd.orrery.sync";

const KIND_REQUEST: u8 = 1;
const KIND_RESPONSE: u8 = 2;
const HEADER_BYTES: usize = MAGIC.len() + 2;

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer bytes than a frame header.
    #[error("sync frame is {0} bytes long; a frame header needs {HEADER_BYTES}")]
    TooShort(usize),
    /// The bytes are not a sync frame at all.
    #[error("not a sync frame (bad magic bytes)")]
    BadMagic,
    /// A frame from a newer or older format.
    #[error(
        "sync format {found} is not supported (this server speaks {FORMAT_VERSION}); please update Orrery"
    )]
    UnsupportedFormat {
        /// The format the frame claims.
        found: u8,
    },
    /// A response where a request was expected, or an unknown kind.
    #[error("sync frame of kind {found} where kind {expected} was expected")]
    WrongKind {
        /// The kind expected here.
        expected: u8,
        /// The kind found.
        found: u8,
    },
    /// A field's length runs past the end of the frame.
    #[error("sync frame is truncated in field `{0}`")]
    Truncated(&'static str),
    /// Bytes left over after the last field.
    #[error("sync frame has {0} unexpected trailing bytes")]
    TrailingBytes(usize),
    /// The frame is larger than allowed.
    #[error("sync frame is {0} bytes; the limit is {MAX_FRAME_BYTES}")]
    TooLarge(usize),
}

/// What a client sends for one graph.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncRequest {
    /// The client's version vector (encoded), so the server can answer with what it lacks.
    pub client_version: Vec<u8>,
    /// Updates the server has not acknowledged (may be empty: a pull).
    pub updates: Vec<u8>,
}

/// What the server answers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncResponse {
    /// The server's version vector after merging the request.
    pub server_version: Vec<u8>,
    /// Updates the client lacks (may be empty).
    pub updates: Vec<u8>,
}

impl SyncRequest {
    /// The request as a frame.
    pub fn encode(&self) -> Vec<u8> {
        encode_frame(KIND_REQUEST, &self.client_version, &self.updates)
    }

    /// Reads a request frame.
    pub fn decode(frame: &[u8]) -> Result<Self, FrameError> {
        let (client_version, updates) = decode_frame(KIND_REQUEST, frame, "client_version")?;
        Ok(Self {
            client_version: client_version.to_vec(),
            updates: updates.to_vec(),
        })
    }
}

impl SyncResponse {
    /// The response as a frame.
    pub fn encode(&self) -> Vec<u8> {
        encode_frame(KIND_RESPONSE, &self.server_version, &self.updates)
    }

    /// Reads a response frame.
    pub fn decode(frame: &[u8]) -> Result<Self, FrameError> {
        let (server_version, updates) = decode_frame(KIND_RESPONSE, frame, "server_version")?;
        Ok(Self {
            server_version: server_version.to_vec(),
            updates: updates.to_vec(),
        })
    }
}

fn encode_frame(kind: u8, first: &[u8], second: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(HEADER_BYTES + 8 + first.len() + second.len());
    frame.extend_from_slice(MAGIC);
    frame.push(FORMAT_VERSION);
    frame.push(kind);
    for field in [first, second] {
        let length = u32::try_from(field.len()).expect("sync fields are far below 4 GiB");
        frame.extend_from_slice(&length.to_le_bytes());
        frame.extend_from_slice(field);
    }
    frame
}

fn decode_frame<'a>(
    kind: u8,
    frame: &'a [u8],
    first_name: &'static str,
) -> Result<(&'a [u8], &'a [u8]), FrameError> {
    if frame.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(frame.len()));
    }
    if frame.len() < HEADER_BYTES {
        return Err(FrameError::TooShort(frame.len()));
    }
    if &frame[..MAGIC.len()] != MAGIC {
        return Err(FrameError::BadMagic);
    }
    let format = frame[MAGIC.len()];
    if format != FORMAT_VERSION {
        return Err(FrameError::UnsupportedFormat { found: format });
    }
    let found_kind = frame[MAGIC.len() + 1];
    if found_kind != kind {
        return Err(FrameError::WrongKind {
            expected: kind,
            found: found_kind,
        });
    }
    let rest = &frame[HEADER_BYTES..];
    let (first, rest) = read_field(rest, first_name)?;
    let (second, rest) = read_field(rest, "updates")?;
    if !rest.is_empty() {
        return Err(FrameError::TrailingBytes(rest.len()));
    }
    Ok((first, second))
}

fn read_field<'a>(bytes: &'a [u8], name: &'static str) -> Result<(&'a [u8], &'a [u8]), FrameError> {
    let Some((length, rest)) = bytes.split_first_chunk::<4>() else {
        return Err(FrameError::Truncated(name));
    };
    let length = u32::from_le_bytes(*length) as usize;
    if length > rest.len() {
        return Err(FrameError::Truncated(name));
    }
    Ok(rest.split_at(length))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn request_round_trips() {
        let request = SyncRequest {
            client_version: vec![1, 2, 3],
            updates: vec![9; 100],
        };
        assert_eq!(SyncRequest::decode(&request.encode()), Ok(request));
    }

    #[test]
    fn each_malformation_has_its_own_reason() {
        let frame = SyncRequest {
            client_version: vec![1],
            updates: vec![2, 3],
        }
        .encode();
        assert_eq!(SyncRequest::decode(b"ORS"), Err(FrameError::TooShort(3)));
        assert_eq!(
            SyncRequest::decode(b"GET / HTTP/1.1"),
            Err(FrameError::BadMagic)
        );
        let mut newer = frame.clone();
        newer[4] = 9;
        assert_eq!(
            SyncRequest::decode(&newer),
            Err(FrameError::UnsupportedFormat { found: 9 })
        );
        assert!(
            FrameError::UnsupportedFormat { found: 9 }
                .to_string()
                .contains("please update")
        );
        assert!(matches!(
            SyncResponse::decode(&frame),
            Err(FrameError::WrongKind { .. })
        ));
        assert_eq!(
            SyncRequest::decode(&frame[..frame.len() - 1]),
            Err(FrameError::Truncated("updates"))
        );
        let mut longer = frame.clone();
        longer.push(0);
        assert_eq!(
            SyncRequest::decode(&longer),
            Err(FrameError::TrailingBytes(1))
        );
        let mut huge_length = frame[..HEADER_BYTES].to_vec();
        huge_length.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            SyncRequest::decode(&huge_length),
            Err(FrameError::Truncated("client_version"))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = SyncRequest::decode(&bytes);
            let _ = SyncResponse::decode(&bytes);
        }

        #[test]
        fn every_truncation_is_refused(
            client_version in proptest::collection::vec(any::<u8>(), 0..32),
            updates in proptest::collection::vec(any::<u8>(), 0..32),
        ) {
            let frame = SyncRequest { client_version, updates }.encode();
            for cut in 0..frame.len() {
                prop_assert!(SyncRequest::decode(&frame[..cut]).is_err());
            }
        }
    }
}
