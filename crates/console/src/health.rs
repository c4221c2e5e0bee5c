//! `/healthz`: each component and whether it is up.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::AppState;

/// The state of one component, as its supervisor last reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentHealth {
    pub up: bool,
    /// Where it listens, or why it is down, in words.
    pub detail: String,
}

/// Where components report their state; `/healthz` reads it. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct HealthBoard {
    components: Arc<RwLock<BTreeMap<String, ComponentHealth>>>,
}

impl HealthBoard {
    pub fn new() -> HealthBoard {
        HealthBoard::default()
    }

    pub fn report(&self, component: &str, up: bool, detail: impl Into<String>) {
        let mut map = self.components.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        map.insert(
            component.to_owned(),
            ComponentHealth {
                up,
                detail: detail.into(),
            },
        );
    }

    pub fn snapshot(&self) -> BTreeMap<String, ComponentHealth> {
        self.components
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

#[derive(Serialize)]
pub(crate) struct Health {
    status: &'static str,
    components: BTreeMap<String, ComponentHealth>,
}

/// Always 200, so that a monitor can read which component is down rather than only that
/// something is.
pub(crate) async fn healthz(State(state): State<AppState>) -> Json<Health> {
    let store_up = state.store().ping().await;
    state.inner.health.report(
        "store",
        store_up,
        if store_up {
            "database answers"
        } else {
            "database does not answer"
        },
    );
    let components = state.inner.health.snapshot();
    let status = if components.values().all(|c| c.up) {
        "ok"
    } else {
        "degraded"
    };
    Json(Health { status, components })
}
