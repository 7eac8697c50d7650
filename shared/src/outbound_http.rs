//! The outbound rule (`outbound`) applied to reqwest, for the worker's downloads and the
//! dispatcher's callbacks. A host name is checked as it is resolved, by a resolver that hands
//! reqwest only the addresses it allowed, so the address connected to is the one checked (no
//! second lookup that a rebinding DNS server could answer differently). An address in the URL
//! itself is never resolved, so callers also check the URL (`Outbound::check_url`) before
//! sending and at every redirect.

use std::{error::Error as StdError, net::SocketAddr, sync::Arc};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::outbound::{Outbound, Refused};

/// Resolves as the system does, then drops the addresses `outbound` refuses; if none is left,
/// fails with the first refusal, which callers find again with [`refusal_in`].
pub struct CheckedResolver {
    outbound: Arc<Outbound>,
}

impl CheckedResolver {
    pub fn new(outbound: Arc<Outbound>) -> Arc<CheckedResolver> {
        Arc::new(CheckedResolver { outbound })
    }
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let outbound = self.outbound.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            // Port 0: the connector puts the URL's port on each address.
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let mut allowed: Vec<SocketAddr> = Vec::new();
            let mut refused: Option<Refused> = None;
            for addr in resolved {
                match outbound.check(&host, addr.ip()) {
                    Ok(()) => allowed.push(addr),
                    Err(why) => {
                        refused.get_or_insert(why);
                    }
                }
            }
            match (allowed.is_empty(), refused) {
                (true, Some(why)) => Err(Box::new(why) as Box<dyn StdError + Send + Sync>),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// The refusal that made a request fail, from the resolver or a redirect policy, if it was one.
pub fn refusal_in(error: &reqwest::Error) -> Option<&Refused> {
    find_cause(error)
}

/// The first of `error`'s causes that is a `T`: reqwest keeps what a resolver or a redirect
/// policy failed with among them.
pub fn find_cause<T: StdError + 'static>(error: &reqwest::Error) -> Option<&T> {
    let mut source = error.source();
    while let Some(e) = source {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        source = e.source();
    }
    None
}

/// What went wrong, without the URL reqwest puts in (it may carry credentials; callers show
/// the URL themselves, through `shown`): the error and its causes, `: `-separated.
pub fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        let part = e.to_string();
        // A cause often ends with its own cause's text; once is enough.
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = e.source();
    }
    text
}
