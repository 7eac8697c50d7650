//! Who can reach the api: a distributed api listening beyond this machine with no login would
//! let anyone who reaches it run jobs and read their results, so it refuses to start that way
//! unless the operator says it is meant (`allow_anonymous = true`, behind another gate).

use std::net::IpAddr;

use crowd_shared::Config;

/// Why the api will not listen where it was asked to.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "refusing to listen on {host} with no login: anyone who can reach it could post jobs and read \
     their results. Set `login` and `password` (CROWD_LOGIN, CROWD_PASSWORD), listen on 127.0.0.1, \
     or set `allow_anonymous = true` (CROWD_ALLOW_ANONYMOUS) if something in front of the api \
     checks who comes in"
)]
pub struct Exposed {
    pub host: String,
}

/// How the api is exposed, when it may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Only this machine can connect, or a login guards it.
    Guarded,
    /// Reachable from other machines with no login, as the operator allowed: say so loudly.
    Anonymous,
}

/// Whether an api may listen on `host` with `config`'s login settings.
pub fn check(host: &str, config: &Config) -> Result<Exposure, Exposed> {
    if is_loopback(host) || config.credentials().is_some() {
        return Ok(Exposure::Guarded);
    }
    if config.allow_anonymous {
        return Ok(Exposure::Anonymous);
    }
    Err(Exposed {
        host: host.to_string(),
    })
}

/// `localhost` or a loopback address: only this machine connects.
pub fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crowd_shared::Secret;

    #[test]
    fn beyond_this_machine_a_login_or_a_deliberate_choice_is_needed() {
        let open = Config::default();
        assert_eq!(check("127.0.0.1", &open), Ok(Exposure::Guarded));
        assert_eq!(check("::1", &open), Ok(Exposure::Guarded));
        assert_eq!(check("localhost", &open), Ok(Exposure::Guarded));
        assert!(check("0.0.0.0", &open).is_err());
        assert!(check("192.168.1.5", &open).is_err());
        let guarded = Config {
            login: Some("crowd".into()),
            password: Some(Secret::new("secret")),
            ..Config::default()
        };
        assert_eq!(check("0.0.0.0", &guarded), Ok(Exposure::Guarded));
        let anonymous = Config {
            allow_anonymous: true,
            ..Config::default()
        };
        assert_eq!(check("0.0.0.0", &anonymous), Ok(Exposure::Anonymous));
    }
}
