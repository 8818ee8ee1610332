//! Where log lines go: a buffer in memory that one thread writes to stderr
//! every few milliseconds. A worker that logs copies its line into the
//! buffer and goes on; it never waits for a slow terminal or pipe, and
//! while lines keep coming it wakes no thread for them (tracing-appender's
//! non-blocking writer, used before, woke its thread for every line: a
//! system call and a thread switch per request at `RUST_LOG=info`).
//!
//! Bounded: past [`MAX_PENDING`] bytes waiting, lines are dropped and
//! counted, and the count is written as a warning of its own after the
//! next batch (a JSON line with `LOG_FORMAT=json`). After an interval with
//! no line the thread sleeps until the next line wakes it. Dropping the
//! [`Flush`] guard writes what is left and stops the thread, waiting for it
//! [`EXIT_WAIT`] at most (stderr may be a pipe nobody reads).

use std::{
    io::{self, Write},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use tracing_subscriber::fmt::MakeWriter;

/// How long the thread waits between batches: a line waits about this
/// long before it is written (longer only when stderr itself is slow).
pub const INTERVAL: Duration = Duration::from_millis(10);
/// How long the guard waits at exit for the last batch to be written.
pub const EXIT_WAIT: Duration = Duration::from_secs(2);
/// The most bytes waiting to be written; past it, lines are dropped.
pub const MAX_PENDING: usize = 16 * 1024 * 1024;

/// The writer the log's formatter is given.
#[derive(Clone, Debug)]
pub struct Batched {
    shared: Arc<Shared>,
}

/// Stops the writing thread when dropped, after it wrote what is left.
#[derive(Debug)]
pub struct Flush {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// Closed when the thread ends.
    ended: std::sync::mpsc::Receiver<()>,
}

#[derive(Debug)]
struct Shared {
    pending: Mutex<Vec<u8>>,
    max_pending: usize,
    dropped: AtomicU64,
    stopping: AtomicBool,
    /// The thread sleeps until a line comes (it found none for a while).
    idle: AtomicBool,
    thread: std::sync::OnceLock<std::thread::Thread>,
}

/// A writer of log lines to `out` (stderr in the binary), and the guard
/// that flushes it at exit; `json` when the lines are JSON, so that the
/// count of dropped lines is one too.
pub fn batched<W: Write + Send + 'static>(out: W, json: bool) -> (Batched, Flush) {
    bounded(out, json, MAX_PENDING)
}

fn bounded<W: Write + Send + 'static>(
    mut out: W,
    json: bool,
    max_pending: usize,
) -> (Batched, Flush) {
    let (ended_tx, ended) = std::sync::mpsc::channel::<()>();
    let shared = Arc::new(Shared {
        pending: Mutex::new(Vec::with_capacity(64 * 1024)),
        max_pending,
        dropped: AtomicU64::new(0),
        stopping: AtomicBool::new(false),
        idle: AtomicBool::new(false),
        thread: std::sync::OnceLock::new(),
    });
    let thread = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("cosgate-log".into())
            .spawn(move || {
                let _ended = ended_tx;
                let mut spare = Vec::with_capacity(64 * 1024);
                loop {
                    if !shared.stopping.load(Ordering::Acquire) {
                        std::thread::park_timeout(INTERVAL);
                    }
                    let stopping = shared.stopping.load(Ordering::Acquire);
                    // Swap the buffers, so that loggers never wait for
                    // the write below.
                    {
                        let mut pending = shared.lock();
                        std::mem::swap(&mut *pending, &mut spare);
                    }
                    let dropped = shared.dropped.swap(0, Ordering::Relaxed);
                    // A line that cannot be written is lost; there is
                    // nowhere else to say so.
                    let _ = out.write_all(&spare);
                    if dropped > 0 {
                        let _ = out.write_all(dropped_notice(dropped, json).as_bytes());
                    }
                    let _ = out.flush();
                    let wrote = !spare.is_empty() || dropped > 0;
                    spare.clear();
                    if stopping {
                        return;
                    }
                    // Nothing came in a whole interval: sleep until a line
                    // does (its writer wakes this thread), so an idle
                    // server does not wake it 100 times a second.
                    if !wrote {
                        shared.idle.store(true, Ordering::SeqCst);
                        if shared.lock().is_empty() && !shared.stopping.load(Ordering::SeqCst) {
                            std::thread::park();
                        }
                        shared.idle.store(false, Ordering::SeqCst);
                    }
                }
            })
            .expect("a thread for the log")
    };
    let _ = shared.thread.set(thread.thread().clone());
    (
        Batched {
            shared: shared.clone(),
        },
        Flush {
            shared,
            thread: Some(thread),
            ended,
        },
    )
}

/// The warning that `dropped` lines were lost, as a line of the log's
/// format.
fn dropped_notice(dropped: u64, json: bool) -> String {
    let message = format!("{dropped} log lines dropped (the log could not keep up)");
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    if json {
        let line = serde_json::json!({
            "timestamp": now,
            "level": "WARN",
            "fields": {"message": message},
            "target": "cosgate::log",
        });
        format!("{line}\n")
    } else {
        format!("{now}  WARN cosgate::log: {message}\n")
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock leaves bytes, not a broken state.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Write for &Batched {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        {
            let mut pending = self.shared.lock();
            if pending.len() + line.len() > self.shared.max_pending {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            } else {
                pending.extend_from_slice(line);
            }
        }
        if self.shared.idle.swap(false, Ordering::SeqCst)
            && let Some(thread) = self.shared.thread.get()
        {
            thread.unpark();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Batched {
    type Writer = &'a Batched;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            // A write stuck on a full pipe must not keep the process from
            // exiting: past the wait, the thread is left behind.
            if let Err(std::sync::mpsc::RecvTimeoutError::Disconnected) =
                self.ended.recv_timeout(EXIT_WAIT)
            {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` the test reads back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("sink").extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_written_in_order_soon_and_all_at_the_end() {
        let sink = Sink::default();
        let (writer, flush) = batched(sink.clone(), false);
        (&writer).write_all(b"one\n").expect("write");
        let waited = std::time::Instant::now();
        while sink.0.lock().expect("sink").is_empty() {
            assert!(waited.elapsed() < Duration::from_secs(5), "never written");
            std::thread::sleep(Duration::from_millis(1));
        }
        for n in 0..1000 {
            (&writer)
                .write_all(format!("line {n}\n").as_bytes())
                .expect("write");
        }
        drop(flush);
        let text = String::from_utf8(sink.0.lock().expect("sink").clone()).expect("utf-8");
        let expected: String = std::iter::once("one\n".to_string())
            .chain((0..1000).map(|n| format!("line {n}\n")))
            .collect();
        assert_eq!(text, expected, "every line, once, in order, by the end");
    }

    #[test]
    fn an_idle_thread_sleeps_and_the_next_line_wakes_it() {
        let sink = Sink::default();
        let (writer, flush) = batched(sink.clone(), false);
        let until = |what: &str, done: &dyn Fn() -> bool| {
            let waited = std::time::Instant::now();
            while !done() {
                assert!(waited.elapsed() < Duration::from_secs(5), "{what}");
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        until("the thread never went idle", &|| {
            writer.shared.idle.load(Ordering::SeqCst)
        });
        (&writer).write_all(b"woken\n").expect("write");
        until("the line never came out", &|| {
            sink.0.lock().expect("sink").as_slice() == b"woken\n"
        });
        drop(flush);
    }

    #[test]
    fn exit_does_not_wait_for_a_stderr_nobody_reads() {
        let (entered, entered_rx) = std::sync::mpsc::channel();
        let (_never, release) = std::sync::mpsc::channel();
        let held = Held {
            sink: Sink::default(),
            entered,
            release,
            first: true,
        };
        let (writer, flush) = bounded(held, false, MAX_PENDING);
        (&writer).write_all(b"stuck\n").expect("write");
        entered_rx.recv().expect("the thread writes");
        let started = std::time::Instant::now();
        drop(flush);
        let waited = started.elapsed();
        assert!(
            (EXIT_WAIT..EXIT_WAIT * 3).contains(&waited),
            "the guard waited {waited:?}"
        );
    }

    /// A `Write` whose first write waits until the test lets it go.
    struct Held {
        sink: Sink,
        entered: std::sync::mpsc::Sender<()>,
        release: std::sync::mpsc::Receiver<()>,
        first: bool,
    }

    impl Write for Held {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            if std::mem::take(&mut self.first) {
                self.entered.send(()).expect("the test waits");
                // Released, or the test ended and left it stuck.
                let _ = self.release.recv();
            }
            self.sink.write(bytes)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn past_the_bound_lines_are_dropped_and_counted() {
        let sink = Sink::default();
        let (entered, entered_rx) = std::sync::mpsc::channel();
        let (release_tx, release) = std::sync::mpsc::channel();
        let held = Held {
            sink: sink.clone(),
            entered,
            release,
            first: true,
        };
        let (writer, flush) = bounded(held, false, 16);
        (&writer).write_all(b"first\n").expect("write");
        // The thread took "first" and is stuck writing it: the buffer is
        // empty and stays unread.
        entered_rx.recv().expect("the thread writes");
        (&writer).write_all(b"0123456789\n").expect("write");
        (&writer).write_all(b"abcdefghij\n").expect("write");
        release_tx.send(()).expect("the thread waits");
        drop(flush);
        let text = String::from_utf8(sink.0.lock().expect("sink").clone()).expect("utf-8");
        let notice = text
            .strip_prefix("first\n0123456789\n")
            .unwrap_or_else(|| panic!("the lines that fit, in order: {text:?}"));
        assert!(
            notice.ends_with(
                "Z  WARN cosgate::log: 1 log lines dropped (the log could not keep up)\n"
            ),
            "{notice:?}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&dropped_notice(3, true)).expect("a JSON line");
        assert_eq!(json["level"], "WARN");
        assert_eq!(
            json["fields"]["message"],
            "3 log lines dropped (the log could not keep up)"
        );
    }
}
