//! Admin-facing operations on the broker: applying changes to the auth tables, kicking
//! clients, and the authorization and anonymous-access decisions.

use std::sync::Arc;

use holdfast_core::ClientId;
use holdfast_store::{Command, StoreError};

use super::{Broker, Kick, Slot};
use crate::auth::{Action, AuthState, Identity};
use crate::config::Permission;

impl Broker {
    /// A read view of the auth tables.
    pub fn auth(&self) -> parking_lot::RwLockReadGuard<'_, AuthState> {
        self.auth.read()
    }

    /// Apply an admin change: commit it; the applier (`apply`) puts it into the in-memory
    /// tables before the ticket resolves, so that it is in force when this returns. Connected
    /// clients that a new ban covers are disconnected.
    pub async fn apply_admin(&self, commands: Vec<Command>) -> Result<(), StoreError> {
        self.log.submit(commands).wait().await
    }

    pub(super) fn kick_banned(&self, bans: &[(u8, String)]) {
        let slots: Vec<Arc<Slot>> = self.sessions.read().values().cloned().collect();
        for slot in slots {
            let meta = slot.meta.lock();
            let Some(link) = &meta.conn else { continue };
            let hit = bans.iter().any(|(kind, value)| match *kind {
                crate::auth::BAN_CLIENT_ID => slot.client_id.as_str() == value,
                crate::auth::BAN_USERNAME => link.username.as_deref() == Some(value.as_str()),
                crate::auth::BAN_PEER => link.peer_ip.to_string() == *value,
                _ => false,
            });
            if hit {
                link.kick.send(Kick::Administrative);
            }
        }
    }

    /// Disconnect a client (admin "kick"). Returns whether it was connected.
    pub fn kick(&self, client: &ClientId) -> bool {
        let Some(slot) = self.slot(client) else {
            return false;
        };
        let meta = slot.meta.lock();
        match &meta.conn {
            Some(link) => link.kick.send(Kick::Administrative),
            None => false,
        }
    }

    /// The ACL decision when no rule matches: config file, else cluster config (`acl.default`,
    /// TOML text `"allow"` or `"deny"`), else allow.
    pub fn acl_default(&self) -> Permission {
        if let Some(p) = self.config.acl.default {
            return p;
        }
        match self
            .auth
            .read()
            .cluster_config
            .get("acl.default")
            .map(String::as_str)
        {
            Some("\"deny\"") => Permission::Deny,
            _ => Permission::Allow,
        }
    }

    /// Are clients without a username allowed? Config file or environment, else cluster config
    /// (`mqtt.allow_anonymous`, TOML `true`/`false`), else only while every listener is on a
    /// loopback address.
    pub fn allow_anonymous(&self) -> bool {
        if let Some(a) = self.config.mqtt.allow_anonymous {
            return a;
        }
        match self
            .auth
            .read()
            .cluster_config
            .get("mqtt.allow_anonymous")
            .map(String::as_str)
        {
            Some("true") => return true,
            Some("false") => return false,
            _ => {}
        }
        let l = &self.config.listeners;
        let tcp = !l.tcp.enabled || l.tcp.bind.ip().is_loopback();
        let tls = l.tls.as_ref().is_none_or(|t| t.bind.ip().is_loopback());
        let ws = l.ws.as_ref().is_none_or(|w| w.bind.ip().is_loopback());
        tcp && tls && ws
    }

    /// May `who` do `action` on `target`?
    pub fn authorize(&self, who: &Identity, action: Action, target: &str) -> bool {
        let default = self.acl_default();
        crate::auth::authorize(
            &self.config.acl,
            &self.auth.read(),
            default,
            who,
            action,
            target,
        )
    }
}
