//! Reading an external producer's stdout line by line, with a bound on a
//! line's length: a producer that writes without a newline must not grow
//! the harness's memory without limit. A longer line is skipped as it
//! streams by (only its head is kept, for messages) and counted as
//! malformed.

use std::io::{self, BufRead};

/// The longest stdout line read as a protocol line (64 KiB, without its
/// newline); a v1 line is well under 200 bytes.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// How much of a too long line is kept, for messages.
const HEAD_BYTES: usize = 120;

/// One line read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineRead {
    /// A line (without its newline) of at most the limit.
    Line(Vec<u8>),
    /// A line over the limit: its length in bytes (without its newline)
    /// and its first bytes.
    TooLong { len: usize, head: Vec<u8> },
}

/// Reads the next line, keeping at most `max` bytes of it in memory.
/// `Ok(None)` at the end of the stream. A last line without a newline
/// counts as a line.
pub fn read_line_bounded<R: BufRead>(r: &mut R, max: usize) -> io::Result<Option<LineRead>> {
    let mut buf = Vec::new();
    let mut len = 0usize;
    let mut too_long = false;
    loop {
        let available = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            if len == 0 && !too_long {
                return Ok(None);
            }
            return Ok(Some(finish(buf, len, too_long)));
        }
        let (chunk, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (&available[..i], Some(i + 1)),
            None => (available, None),
        };
        len += chunk.len();
        if !too_long {
            if len > max {
                too_long = true;
                let room = HEAD_BYTES.saturating_sub(buf.len());
                buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
                buf.truncate(HEAD_BYTES);
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(available.len());
        r.consume(used);
        if done.is_some() {
            return Ok(Some(finish(buf, len, too_long)));
        }
    }
}

fn finish(mut buf: Vec<u8>, len: usize, too_long: bool) -> LineRead {
    if too_long {
        buf.truncate(HEAD_BYTES);
        LineRead::TooLong { len, head: buf }
    } else {
        LineRead::Line(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize, capacity: usize) -> Vec<LineRead> {
        let mut r = io::BufReader::with_capacity(capacity, input);
        let mut out = Vec::new();
        while let Some(l) = read_line_bounded(&mut r, max).unwrap() {
            out.push(l);
        }
        out
    }

    #[test]
    fn lines_come_without_their_newline() {
        for capacity in [1, 3, 64] {
            assert_eq!(
                lines(b"ab\n\ncde\nf", 10, capacity),
                [
                    LineRead::Line(b"ab".to_vec()),
                    LineRead::Line(Vec::new()),
                    LineRead::Line(b"cde".to_vec()),
                    LineRead::Line(b"f".to_vec()),
                ],
                "capacity {capacity}"
            );
        }
        assert!(lines(b"", 10, 8).is_empty());
    }

    #[test]
    fn a_line_over_the_limit_is_skipped_and_named() {
        let mut input = vec![b'x'; 1000];
        input.extend_from_slice(b"\n{\"event\":\"end\"}\n");
        for capacity in [7, 64, 8192] {
            let got = lines(&input, 100, capacity);
            assert_eq!(got.len(), 2, "capacity {capacity}");
            match &got[0] {
                LineRead::TooLong { len, head } => {
                    assert_eq!(*len, 1000);
                    assert!(!head.is_empty() && head.len() <= HEAD_BYTES);
                    assert!(head.iter().all(|b| *b == b'x'));
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(got[1], LineRead::Line(b"{\"event\":\"end\"}".to_vec()));
        }
        // Exactly at the limit is a line.
        assert_eq!(lines(b"xxxx\n", 4, 2), [LineRead::Line(b"xxxx".to_vec())]);
    }

    #[test]
    fn an_endless_line_keeps_memory_bounded() {
        // 8 MiB without a newline: read through, never held.
        struct Endless(usize);
        impl io::Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(self.0);
                buf[..n].fill(b'y');
                self.0 -= n;
                Ok(n)
            }
        }
        let mut r = io::BufReader::new(Endless(8 << 20));
        match read_line_bounded(&mut r, MAX_LINE_BYTES).unwrap() {
            Some(LineRead::TooLong { len, head }) => {
                assert_eq!(len, 8 << 20);
                assert!(head.len() <= HEAD_BYTES);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(read_line_bounded(&mut r, MAX_LINE_BYTES).unwrap(), None);
    }
}
