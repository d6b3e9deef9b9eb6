//! All sessions of a server: one per image, on ports `PORTBASE + 2n` as
//! listed in `multicast.list`, each restarting after every round.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use bootbox_linbo::multicast::MulticastList;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tracing::info;

use crate::config::Config;
use crate::error::Error;
use crate::net::Endpoint;
use crate::session::{Session, SessionSpec};
use crate::status::{Outcome, SessionEvent, SessionStatus};

/// Events buffered per subscriber before the slowest one starts missing
/// some (it then gets `RecvError::Lagged`).
const EVENT_CAPACITY: usize = 1024;

/// Builds `multicast.list` and the matching sessions the way LINBO's
/// `linbo-multicast` does: ports `portbase`, `portbase + 2`, … in the given
/// image order. `images` are (file name as clients look it up, path).
pub fn plan<I>(
    server_ip: Ipv4Addr,
    portbase: u16,
    images: I,
) -> Result<(MulticastList, Vec<SessionSpec>), Error>
where
    I: IntoIterator<Item = (String, PathBuf)>,
{
    let images: Vec<(String, PathBuf)> = images.into_iter().collect();
    let list = MulticastList::assign(server_ip, portbase, images.iter().map(|(n, _)| n.clone()))
        .map_err(Error::InvalidConfig)?;
    let specs = list
        .entries
        .iter()
        .zip(images)
        .map(|(e, (image, path))| SessionSpec {
            image,
            path,
            port: e.port,
        })
        .collect();
    Ok((list, specs))
}

/// Sessions for an existing `multicast.list`: `resolve` maps an image
/// name to its path; names it cannot resolve are returned separately.
pub fn sessions_from_list<F>(
    list: &MulticastList,
    mut resolve: F,
) -> (Vec<SessionSpec>, Vec<String>)
where
    F: FnMut(&str) -> Option<PathBuf>,
{
    let mut specs = Vec::new();
    let mut missing = Vec::new();
    for e in &list.entries {
        match resolve(&e.image) {
            Some(path) => specs.push(SessionSpec {
                image: e.image.clone(),
                path,
                port: e.port,
            }),
            None => missing.push(e.image.clone()),
        }
    }
    (specs, missing)
}

/// Running sessions.
#[derive(Debug)]
pub struct Service {
    endpoint: Endpoint,
    sessions: Vec<watch::Receiver<SessionStatus>>,
    events: broadcast::Sender<SessionEvent>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<Option<Outcome>>>,
}

impl Service {
    /// Looks up the interface, binds every session (all or nothing) and
    /// starts them on the current tokio runtime.
    pub fn start(cfg: Config, sessions: Vec<SessionSpec>) -> Result<Service, Error> {
        cfg.validate().map_err(Error::InvalidConfig)?;
        let endpoint = Endpoint::lookup(&cfg.interface, cfg.server_ip, cfg.broadcast)?;
        Service::start_on(cfg, endpoint, sessions)
    }

    /// As [`Service::start`], with the interface's addresses given.
    pub fn start_on(
        cfg: Config,
        endpoint: Endpoint,
        sessions: Vec<SessionSpec>,
    ) -> Result<Service, Error> {
        cfg.validate().map_err(Error::InvalidConfig)?;
        let mut ports = HashSet::new();
        for s in &sessions {
            if s.port == u16::MAX || !ports.insert(s.port) || ports.contains(&(s.port + 1)) {
                return Err(Error::InvalidConfig(format!(
                    "port {} of {} collides with another session (each uses port and port + 1)",
                    s.port, s.image
                )));
            }
        }
        if let Some(s) = sessions
            .iter()
            .find(|s| ports.contains(&s.port.wrapping_sub(1)))
        {
            return Err(Error::InvalidConfig(format!(
                "port {} of {} collides with another session",
                s.port, s.image
            )));
        }
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let mut bound = Vec::new();
        for (pos, spec) in sessions.into_iter().enumerate() {
            let index = if spec.port >= cfg.portbase {
                usize::from((spec.port - cfg.portbase) / 2)
            } else {
                pos
            };
            bound.push(Session::bind(&cfg, &endpoint, spec, index, events.clone())?);
        }
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut status = Vec::new();
        let mut tasks = Vec::new();
        for s in bound {
            status.push(s.status());
            tasks.push(tokio::spawn(s.run(shutdown_rx.clone(), None)));
        }
        info!(sessions = tasks.len(), interface = %endpoint.interface, "multicast service started");
        Ok(Service {
            endpoint,
            sessions: status,
            events,
            shutdown,
            tasks,
        })
    }

    /// The interface and addresses in use.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Snapshot of every session, in `multicast.list` order.
    pub fn status(&self) -> Vec<SessionStatus> {
        self.sessions.iter().map(|w| w.borrow().clone()).collect()
    }

    /// Live status of one image's session.
    pub fn watch(&self, image: &str) -> Option<watch::Receiver<SessionStatus>> {
        self.sessions
            .iter()
            .find(|w| &*w.borrow().image == image)
            .cloned()
    }

    /// Live events of all sessions.
    pub fn subscribe(&self) -> broadcast::Receiver<SessionEvent> {
        self.events.subscribe()
    }

    /// Stops every session (running transfers are aborted and their
    /// receivers told to give up) and waits for them.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}
