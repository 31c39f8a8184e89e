//! A small server-sent events parser (the `text/event-stream` format).
//!
//! Bytes go in as they arrive from the network, cut anywhere; whole events
//! come out. Lines may end in `\n`, `\r\n` or `\r` (also when the `\r` and
//! the `\n` arrive in different chunks); `:` lines are comments; several
//! `data:` lines make one event, joined by `\n`. Memory stays bounded: a line
//! longer than the limit is an error as soon as it passes the limit, before
//! the rest of it is read, and so is an event whose data grows past it.

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, if one was given.
    pub event: Option<String>,
    /// The `data:` lines, joined by `\n`.
    pub data: String,
    /// The `id:` field, if one was given.
    pub id: Option<String>,
}

/// Why the stream cannot be read further.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A line passed the limit.
    #[error("a line is longer than {limit} bytes")]
    LineTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// An event's data passed the limit.
    #[error("an event's data is longer than {limit} bytes")]
    EventTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
}

/// The parser's state between chunks.
#[derive(Debug)]
pub struct SseParser {
    line: Vec<u8>,
    max_line: usize,
    max_data: usize,
    /// The last chunk ended in `\r`: a `\n` opening the next one belongs to it.
    skip_newline: bool,
    first_line: bool,
    event: Option<String>,
    id: Option<String>,
    data: String,
    has_data: bool,
    failed: Option<SseError>,
}

impl SseParser {
    /// A parser allowing lines, and event data, of up to `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        Self {
            line: Vec::new(),
            max_line,
            max_data: max_line,
            skip_newline: false,
            first_line: true,
            event: None,
            id: None,
            data: String::new(),
            has_data: false,
            failed: None,
        }
    }

    /// Reads `bytes`, appending every event they complete to `events`.
    /// After an error the parser refuses everything.
    pub fn push(&mut self, mut bytes: &[u8], events: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        if self.skip_newline && !bytes.is_empty() {
            self.skip_newline = false;
            if bytes[0] == b'\n' {
                bytes = &bytes[1..];
            }
        }
        while let Some(at) = bytes
            .iter()
            .position(|&byte| byte == b'\n' || byte == b'\r')
        {
            self.extend_line(&bytes[..at])?;
            self.end_line(events)?;
            let ending = bytes[at];
            bytes = &bytes[at + 1..];
            if ending == b'\r' {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    Some(_) => {}
                    None => self.skip_newline = true,
                }
            }
        }
        self.extend_line(bytes)
    }

    /// The stream ended: a last line without its line break still counts,
    /// and an event without its closing blank line is delivered (servers
    /// that close right after their last `data:` line are common).
    pub fn finish(&mut self, events: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        if !self.line.is_empty() {
            self.end_line(events)?;
        }
        self.dispatch(events);
        Ok(())
    }

    fn fail(&mut self, error: SseError) -> Result<(), SseError> {
        self.failed = Some(error);
        self.line = Vec::new();
        self.data = String::new();
        Err(error)
    }

    fn extend_line(&mut self, part: &[u8]) -> Result<(), SseError> {
        if self.line.len() + part.len() > self.max_line {
            return self.fail(SseError::LineTooLong {
                limit: self.max_line,
            });
        }
        self.line.extend_from_slice(part);
        Ok(())
    }

    fn end_line(&mut self, events: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let bytes = std::mem::take(&mut self.line);
        let mut line = String::from_utf8_lossy(&bytes);
        if self.first_line {
            self.first_line = false;
            if let Some(rest) = line.strip_prefix('\u{feff}') {
                line = rest.to_owned().into();
            }
        }
        if line.is_empty() {
            self.dispatch(events);
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                let added = value.len() + usize::from(self.has_data);
                if self.data.len() + added > self.max_data {
                    return self.fail(SseError::EventTooLarge {
                        limit: self.max_data,
                    });
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            // `retry` and unknown fields are ignored, as the format says.
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, events: &mut Vec<SseEvent>) {
        let event = self.event.take();
        if !self.has_data {
            return;
        }
        self.has_data = false;
        events.push(SseEvent {
            event,
            data: std::mem::take(&mut self.data),
            id: self.id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(stream: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
        let mut parser = SseParser::new(1024);
        let mut events = Vec::new();
        let mut start = 0;
        for &cut in cuts {
            parser.push(&stream[start..cut], &mut events).unwrap();
            start = cut;
        }
        parser.push(&stream[start..], &mut events).unwrap();
        parser.finish(&mut events).unwrap();
        events
    }

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|event| event.data.as_str()).collect()
    }

    const STREAM: &[u8] = b": a comment\r\n\
        event: message_start\r\n\
        data: {\"a\":1}\r\n\
        \r\n\
        data:no-space\n\
        data:  two spaces\n\
        \n\
        event: delta\rdata: first line\rdata: second line\r\r\
        id: 7\n\
        data: with id\n\n\
        data: caf\xc3\xa9 \xe2\x9c\x93\n\n";

    #[test]
    fn events_come_out_whole_wherever_the_chunks_are_cut() {
        let expected = parse_in_pieces(STREAM, &[]);
        assert_eq!(
            data(&expected),
            [
                "{\"a\":1}",
                "no-space\n two spaces",
                "first line\nsecond line",
                "with id",
                "café ✓",
            ]
        );
        assert_eq!(expected[0].event.as_deref(), Some("message_start"));
        assert_eq!(expected[1].event, None);
        assert_eq!(expected[2].event.as_deref(), Some("delta"));
        assert_eq!(expected[3].id.as_deref(), Some("7"));
        // Every single cut, and every pair of cuts, gives the same events
        // (this splits `\r\n` pairs and multi-byte characters too).
        for first in 0..=STREAM.len() {
            assert_eq!(
                parse_in_pieces(STREAM, &[first]),
                expected,
                "cut at {first}"
            );
            for second in (first..=STREAM.len()).step_by(7) {
                assert_eq!(parse_in_pieces(STREAM, &[first, second]), expected);
            }
        }
        // One byte at a time.
        let every: Vec<usize> = (1..STREAM.len()).collect();
        assert_eq!(parse_in_pieces(STREAM, &every), expected);
    }

    #[test]
    fn comments_and_field_only_events_are_not_delivered() {
        let events = parse_in_pieces(b": ping\n\nevent: lonely\n\nretry: 10\nunknown: x\n\n", &[]);
        assert!(events.is_empty(), "{events:?}");
    }

    #[test]
    fn a_last_event_without_its_blank_line_is_delivered() {
        assert_eq!(data(&parse_in_pieces(b"data: last", &[])), ["last"]);
        assert_eq!(data(&parse_in_pieces(b"data: last\n", &[])), ["last"]);
        assert_eq!(data(&parse_in_pieces(b"data: last\r", &[])), ["last"]);
    }

    #[test]
    fn a_leading_byte_order_mark_is_skipped() {
        let events = parse_in_pieces(b"\xef\xbb\xbfdata: x\n\n", &[2]);
        assert_eq!(data(&events), ["x"]);
    }

    #[test]
    fn over_long_lines_fail_before_they_are_read_whole() {
        let mut parser = SseParser::new(1024);
        let mut events = Vec::new();
        parser.push(b"data: ok\n\n", &mut events).unwrap();
        // 600 bytes, then 600 more of the same line: the second push fails,
        // and the parser never held more than the limit.
        parser.push(&[b'x'; 600], &mut events).unwrap();
        let error = parser.push(&[b'x'; 600], &mut events).unwrap_err();
        assert_eq!(error, SseError::LineTooLong { limit: 1024 });
        assert!(parser.line.capacity() <= 1024);
        // Once failed, always failed.
        assert_eq!(parser.push(b"\n\n", &mut events), Err(error));
        assert_eq!(parser.finish(&mut events), Err(error));
        assert_eq!(data(&events), ["ok"]);

        // A single chunk far larger than the limit fails without being copied.
        let mut parser = SseParser::new(1024);
        let huge = vec![b'y'; 10 * 1024 * 1024];
        assert!(parser.push(&huge, &mut events).is_err());
        assert!(parser.line.capacity() <= 1024);
    }

    #[test]
    fn events_whose_data_grows_past_the_limit_fail() {
        let mut parser = SseParser::new(1024);
        let mut events = Vec::new();
        let line = format!("data: {}\n", "z".repeat(500));
        parser.push(line.as_bytes(), &mut events).unwrap();
        parser.push(line.as_bytes(), &mut events).unwrap();
        let error = parser.push(line.as_bytes(), &mut events).unwrap_err();
        assert_eq!(error, SseError::EventTooLarge { limit: 1024 });
        assert!(events.is_empty());
    }

    #[test]
    fn garbage_is_ignored_or_passed_on_as_text() {
        // Lines that are no field are ignored; bytes that are not UTF-8 come
        // out replaced (the provider's JSON parser then refuses them).
        let events = parse_in_pieces(b"\x00\xff\xfe garbage\n\ndata: \xff\xfe\n\n", &[3]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, "\u{fffd}\u{fffd}");
    }
}
