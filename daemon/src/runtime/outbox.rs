//! Adverts the instances asked for in one turn of the event loop, sent together: one
//! `sendmmsg` per socket instead of one `sendmsg` per advert (at 510 instances and 10 ms
//! adverts, 51,000 system calls a second). The loop sends them before it performs any other
//! action, so an advert never changes places with what the instance did next (VIPs added,
//! announcements, a VMAC brought up).
//!
//! Nothing here allocates once the first turns have sized the buffers: the adverts are
//! written one after the other into one byte buffer, and every list a flush needs is kept
//! from turn to turn (a fresh allocation per advert or per turn was a malloc and free per
//! advert, and musl's allocator handing whole pages back and mapping them again).

use std::io;
use std::net::IpAddr;
use std::ops::Range;
use std::sync::Arc;

use crate::net::socket::{Outgoing, SendScratch, VrrpSocket};

pub struct Queued {
    socket: Arc<VrrpSocket>,
    /// Where its bytes are in the outbox's buffer.
    bytes: Range<usize>,
    src: IpAddr,
    pub dst: IpAddr,
    /// Index of the instance in the daemon's list.
    pub router: usize,
    pub priority: u8,
}

#[derive(Default)]
pub struct Outbox {
    queued: Vec<Queued>,
    /// The bytes of every queued advert, back to back.
    bytes: Vec<u8>,
    done: Vec<bool>,
    group: Vec<usize>,
    results: Vec<io::Result<()>>,
    scratch: SendScratch,
}

impl Outbox {
    /// Queues the advert `write` appends to the buffer it is given (and nothing else).
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        socket: Arc<VrrpSocket>,
        write: impl FnOnce(&mut Vec<u8>),
        src: IpAddr,
        dst: IpAddr,
        router: usize,
        priority: u8,
    ) {
        let start = self.bytes.len();
        write(&mut self.bytes);
        self.queued.push(Queued {
            socket,
            bytes: start..self.bytes.len(),
            src,
            dst,
            router,
            priority,
        });
    }

    /// Sends everything queued, never waiting (a full send queue drops adverts: the next
    /// ones follow), in queue order per socket; `each` learns how every advert fared.
    pub fn flush(&mut self, mut each: impl FnMut(&Queued, io::Result<()>)) {
        if self.queued.is_empty() {
            return;
        }
        let Outbox {
            queued,
            bytes,
            done,
            group,
            results,
            scratch,
        } = self;
        done.clear();
        done.resize(queued.len(), false);
        for first in 0..queued.len() {
            if done[first] {
                continue;
            }
            let socket = &queued[first].socket;
            group.clear();
            group.extend(
                (first..queued.len())
                    .filter(|&i| !done[i] && Arc::ptr_eq(&queued[i].socket, socket)),
            );
            let packets = group.iter().map(|&i| Outgoing {
                payload: bytes.get(queued[i].bytes.clone()).unwrap_or_default(),
                src: queued[i].src,
                dst: queued[i].dst,
            });
            results.clear();
            socket.try_send_many(packets, scratch, results);
            for &i in group.iter() {
                done[i] = true;
            }
            for (&i, result) in group.iter().zip(results.drain(..)) {
                each(&queued[i], result);
            }
        }
        queued.clear();
        bytes.clear();
    }
}
