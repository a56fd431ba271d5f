//! Where the daemon's log lines go: standard error, written by a thread of its own.
//!
//! Standard error is a pipe or a journald stream socket; when nobody reads it (journald
//! stalled, a `| logger` that hung) a write blocks once the pipe is full. Written from the
//! event loop, the next log line would stop every instance's adverts, and the backups would
//! take over from a live master. So the loop only queues each line (at most [`QUEUED`]
//! lines wait); a line that does not fit is dropped and counted, and once the output moves
//! again the writer says how many went missing before the next line.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// Lines waiting for a blocked output, at most (about 150 bytes each).
pub const QUEUED: usize = 1024;

enum Message {
    Line(Vec<u8>),
    /// Answered once every line queued before it is written.
    Flush(mpsc::Sender<()>),
}

/// Hands log lines to the writing thread; `tracing_subscriber`'s writer.
#[derive(Clone)]
pub struct LogOutput {
    tx: SyncSender<Message>,
    dropped: Arc<AtomicU64>,
}

impl LogOutput {
    /// Starts the thread writing to `out`. Without a thread (none could be started) lines
    /// are written to `out` directly, as before.
    pub fn spawn<W: Write + Send + 'static>(out: W) -> io::Result<LogOutput> {
        let (tx, rx) = mpsc::sync_channel(QUEUED);
        let dropped = Arc::new(AtomicU64::new(0));
        let counted = dropped.clone();
        std::thread::Builder::new()
            .name("vipd-log".into())
            // Formatting is done by the sender: writing needs little stack.
            .stack_size(64 * 1024)
            .spawn(move || write_lines(out, rx, &counted))?;
        Ok(LogOutput { tx, dropped })
    }

    /// Lines dropped so far because the output was blocked.
    #[cfg(test)]
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits up to `timeout` for the queued lines to be written (at exit: a blocked output
    /// must not keep the daemon from ending).
    pub fn flush(&self, timeout: Duration) -> bool {
        let (done, written) = mpsc::channel();
        if self.tx.try_send(Message::Flush(done)).is_err() {
            return false;
        }
        written.recv_timeout(timeout).is_ok()
    }

    fn queue(&self, line: Vec<u8>) {
        match self.tx.try_send(Message::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            // The thread is gone (a write error ended it): nothing to write to.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

fn write_lines<W: Write>(mut out: W, rx: Receiver<Message>, dropped: &AtomicU64) {
    let mut reported = 0u64;
    for message in rx {
        let line = match message {
            Message::Line(line) => line,
            Message::Flush(done) => {
                let _ = out.flush();
                let _ = done.send(());
                continue;
            }
        };
        let now = dropped.load(Ordering::Relaxed);
        if now > reported {
            let notice = format!(
                "vipd: {} log line(s) dropped: the log output was not read\n",
                now - reported
            );
            reported = now;
            if out.write_all(notice.as_bytes()).is_err() {
                return;
            }
        }
        if out.write_all(&line).is_err() {
            return;
        }
    }
}

/// One log line being formatted; queued whole when dropped.
pub struct LineWriter<'a> {
    output: &'a LogOutput,
    line: Vec<u8>,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.line.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter<'_> {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            self.output.queue(std::mem::take(&mut self.line));
        }
    }
}

impl<'a> MakeWriter<'a> for LogOutput {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            output: self,
            line: Vec::with_capacity(160),
        }
    }
}

/// The output the daemon's log goes to, kept for [`flush_at_exit`].
static OUTPUT: Mutex<Option<LogOutput>> = Mutex::new(None);

/// Standard error through the writing thread (standard error itself if no thread starts).
pub fn stderr() -> Result<LogOutput, io::Error> {
    let output = LogOutput::spawn(io::stderr())?;
    if let Ok(mut kept) = OUTPUT.lock() {
        *kept = Some(output.clone());
    }
    Ok(output)
}

/// At exit: the lines still queued are written, unless the output stays blocked for a second.
pub fn flush_at_exit() {
    flush_queued(Duration::from_secs(1));
}

/// Waits up to `timeout` for the lines queued so far to be written (at exit, and before a
/// forked daemon releases its parent: the start line is in the log when the command returns).
pub fn flush_queued(timeout: Duration) {
    let output = OUTPUT.lock().ok().and_then(|kept| kept.clone());
    if let Some(output) = output {
        output.flush(timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::OwnedFd;
    use std::time::Instant;

    #[test]
    fn a_log_output_nobody_reads_never_blocks_the_logger_and_says_what_it_dropped() {
        let (read_end, write_end): (OwnedFd, OwnedFd) = nix::unistd::pipe().unwrap();
        let output = LogOutput::spawn(std::fs::File::from(write_end)).unwrap();
        // Far more than the pipe (64 KiB) and the queue hold.
        let started = Instant::now();
        for n in 0..20_000 {
            let mut writer = output.make_writer();
            writeln!(writer, "line {n:05} {}", "x".repeat(100)).unwrap();
        }
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(10),
            "logging waited for the output: {took:?}"
        );
        assert!(output.dropped() > 0, "nothing was dropped");
        assert!(
            !output.flush(Duration::from_millis(100)),
            "a blocked output flushed"
        );
        // The reader comes back: what was queued follows, after the count of lines lost.
        let mut reader = std::fs::File::from(read_end);
        let reading = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = reader.read_to_string(&mut text);
            text
        });
        let drained = Instant::now();
        while !output.flush(Duration::from_millis(100)) {
            assert!(
                drained.elapsed() < Duration::from_secs(20),
                "the output did not drain"
            );
        }
        let mut writer = output.make_writer();
        writeln!(writer, "after").unwrap();
        drop(writer);
        assert!(
            output.flush(Duration::from_secs(20)),
            "the output did not drain"
        );
        drop(output);
        let text = reading.join().unwrap();
        // In the order they were logged.
        let numbers: Vec<u32> = (text.lines())
            .filter_map(|l| l.strip_prefix("line ")?.get(..5)?.parse().ok())
            .collect();
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "lines out of order"
        );
        // A notice before the first line written after some were dropped.
        let count: u64 = (text.lines())
            .filter(|l| l.contains("log line(s) dropped"))
            .map(|l| l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap())
            .sum();
        assert!(count > 0, "no notice of the dropped lines");
        let lines = text.lines().filter(|l| l.starts_with("line ")).count() as u64;
        assert_eq!(lines + count, 20_000, "lines lost without being counted");
        assert!(text.trim_end().ends_with("after"));
    }
}
