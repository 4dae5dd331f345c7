//! Read and write sides with an overall deadline, for the owner-only sockets
//! (admin API, WireGuard UAPI). A socket timeout alone bounds each read or
//! write, so a client trickling one byte just inside it — sending a request,
//! or reading an answer — would hold a connection slot (or the UAPI's only
//! thread) forever; the deadline bounds the whole request or answer.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// A deadline for a whole request or answer, each operation within it also
/// bounded by its own timeout.
#[derive(Debug)]
struct Deadline {
    per_op: Duration,
    at: Instant,
}

impl Deadline {
    fn new(per_op: Duration, within: Duration) -> Self {
        Deadline {
            per_op,
            at: Instant::now() + within,
        }
    }

    fn restart(&mut self, within: Duration) {
        self.at = Instant::now() + within;
    }

    /// The socket timeout for the next operation, or TimedOut if the
    /// deadline has passed.
    fn next_timeout(&self, what: &str) -> io::Result<Duration> {
        let left = self.at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out(what));
        }
        // A zero timeout would mean "block forever" to the socket.
        Ok(left.min(self.per_op).max(Duration::from_millis(1)))
    }
}

/// A socket timeout shows as EAGAIN: name it for what it is.
fn named_timeout<T>(result: io::Result<T>, what: &str) -> io::Result<T> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(timed_out(what)),
        other => other,
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("{what} not complete within its timeout or before its deadline"),
    )
}

/// Reads from a Unix stream until a deadline, each read bounded by `per_read`.
#[derive(Debug)]
pub struct DeadlineReader {
    stream: UnixStream,
    deadline: Deadline,
}

impl DeadlineReader {
    /// Reads from `stream` until `within` from now.
    pub fn new(stream: UnixStream, per_read: Duration, within: Duration) -> Self {
        DeadlineReader {
            stream,
            deadline: Deadline::new(per_read, within),
        }
    }

    /// Starts a new deadline, `within` from now (e.g. for the next request).
    pub fn restart(&mut self, within: Duration) {
        self.deadline.restart(within);
    }
}

impl Read for DeadlineReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let timeout = self.deadline.next_timeout("request")?;
        self.stream.set_read_timeout(Some(timeout))?;
        named_timeout(self.stream.read(buf), "request")
    }
}

/// Writes to a Unix stream until a deadline, each write bounded by `per_write`.
#[derive(Debug)]
pub struct DeadlineWriter {
    stream: UnixStream,
    deadline: Deadline,
}

impl DeadlineWriter {
    /// Writes to `stream` until `within` from now.
    pub fn new(stream: UnixStream, per_write: Duration, within: Duration) -> Self {
        DeadlineWriter {
            stream,
            deadline: Deadline::new(per_write, within),
        }
    }

    /// Starts a new deadline, `within` from now (e.g. for the next answer).
    pub fn restart(&mut self, within: Duration) {
        self.deadline.restart(within);
    }
}

impl Write for DeadlineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let timeout = self.deadline.next_timeout("answer")?;
        self.stream.set_write_timeout(Some(timeout))?;
        named_timeout(self.stream.write(buf), "answer")
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};

    #[test]
    fn a_trickling_client_is_cut_off_at_the_deadline() {
        let (server, mut client) = UnixStream::pair().unwrap();
        let trickle = std::thread::spawn(move || {
            // One byte every 50 ms, well inside the per-read timeout, never a newline.
            for _ in 0..40 {
                if client.write_all(b"x").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let started = Instant::now();
        let reader =
            DeadlineReader::new(server, Duration::from_secs(1), Duration::from_millis(300));
        let mut line = String::new();
        let err = BufReader::new(reader).read_line(&mut line).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let took = started.elapsed();
        assert!(
            // Generous for a loaded machine: without the deadline the read
            // would end only at the trickle's EOF (2 s), and succeed.
            took >= Duration::from_millis(300) && took < Duration::from_millis(1900),
            "{took:?}"
        );
        let _ = trickle.join();
    }

    #[test]
    fn a_prompt_request_is_read_and_the_deadline_can_restart() {
        let (server, mut client) = UnixStream::pair().unwrap();
        let mut reader = BufReader::new(DeadlineReader::new(
            server,
            Duration::from_secs(1),
            Duration::from_millis(200),
        ));
        client.write_all(b"first\n").unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "first\n");
        std::thread::sleep(Duration::from_millis(250)); // past the first deadline
        reader.get_mut().restart(Duration::from_millis(200));
        client.write_all(b"second\n").unwrap();
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "second\n");
    }

    #[test]
    fn a_client_reading_an_answer_a_trickle_at_a_time_is_cut_off_at_the_deadline() {
        let (server, mut client) = UnixStream::pair().unwrap();
        // Detached: it stops by itself after 2 s.
        std::thread::spawn(move || {
            // 1 KiB every 20 ms for 2 s: each write makes progress, so a
            // per-write timeout alone would not fire before the reader stops.
            let mut chunk = [0u8; 1024];
            for _ in 0..100 {
                if matches!(client.read(&mut chunk), Ok(0) | Err(_)) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let mut writer =
            DeadlineWriter::new(server, Duration::from_secs(1), Duration::from_millis(300));
        let started = Instant::now();
        let err = writer.write_all(&vec![7u8; 8 << 20]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let took = started.elapsed();
        // Generous for a loaded machine, and well under the 2 s + 1 s a
        // per-write timeout alone would take.
        assert!(took < Duration::from_millis(1500), "{took:?}");
    }
}
