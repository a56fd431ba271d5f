//! Adverts the instances asked for in one turn of the event loop, sent together: one
//! `sendmmsg` per socket instead of one `sendmsg` per advert (at 510 instances and 10 ms
//! adverts, 51,000 system calls a second). The loop sends them before it performs any other
//! action, so an advert never changes places with what the instance did next (VIPs added,
//! announcements, a VMAC brought up).

use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use crate::net::socket::{Outgoing, VrrpSocket};

pub struct Queued {
    socket: Arc<VrrpSocket>,
    bytes: Vec<u8>,
    src: IpAddr,
    pub dst: IpAddr,
    /// Index of the instance in the daemon's list.
    pub router: usize,
    pub priority: u8,
}

#[derive(Default)]
pub struct Outbox {
    queued: Vec<Queued>,
}

impl Outbox {
    #[allow(clippy::too_many_arguments)]
    pub fn push(
        &mut self,
        socket: Arc<VrrpSocket>,
        bytes: Vec<u8>,
        src: IpAddr,
        dst: IpAddr,
        router: usize,
        priority: u8,
    ) {
        self.queued.push(Queued {
            socket,
            bytes,
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
        let queued = std::mem::take(&mut self.queued);
        let mut done = vec![false; queued.len()];
        let mut results = Vec::with_capacity(queued.len());
        let mut group = Vec::with_capacity(queued.len());
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
            let packets: Vec<Outgoing<'_>> = (group.iter())
                .map(|&i| Outgoing {
                    payload: &queued[i].bytes,
                    src: queued[i].src,
                    dst: queued[i].dst,
                })
                .collect();
            results.clear();
            socket.try_send_many(&packets, &mut results);
            for &i in &group {
                done[i] = true;
            }
            for (&i, result) in group.iter().zip(results.drain(..)) {
                each(&queued[i], result);
            }
        }
        // Reuse the allocation next turn.
        self.queued = queued;
        self.queued.clear();
    }
}
