//! AgentgatewayParameters: the logging and shutdown settings of the proxy.

use api::ResourceKind;
use api::resource::AGENTGATEWAY_GROUP;

use crate::compile::Ctx;
use std::time::Duration;

use crate::ir::{LoggingSettings, ShutdownSettings};
use crate::status::Condition;
use crate::store::ObjectKey;

/// The parameters referred to by a Gateway (`spec.infrastructure.parametersRef`) or its
/// GatewayClass win; with no reference, a single AgentgatewayParameters in the files applies.
pub(crate) fn process_settings(ctx: &mut Ctx<'_>) -> (LoggingSettings, ShutdownSettings) {
    let mut chosen: Option<ObjectKey> = None;
    for gateway in ctx.store.gateways.values() {
        let class_ref = ctx
            .store
            .gateway_classes
            .values()
            .find(|c| c.key.name == gateway.resource.spec.gateway_class_name)
            .and_then(|c| {
                c.resource
                    .spec
                    .parameters_ref
                    .clone()
                    .map(|r| (r, "spec.gatewayClassName"))
            });
        let gateway_ref = gateway
            .resource
            .spec
            .infrastructure
            .as_ref()
            .and_then(|i| i.parameters_ref.clone())
            .map(|r| (r, "spec.infrastructure.parametersRef"));
        let Some((reference, path)) = gateway_ref.or(class_ref) else {
            continue;
        };
        if reference.group != AGENTGATEWAY_GROUP || reference.kind != "AgentgatewayParameters" {
            ctx.error(gateway, path, format!("parametersRef must point at {AGENTGATEWAY_GROUP}/AgentgatewayParameters, not {}/{}", reference.group, reference.kind), "");
            continue;
        }
        let namespace = reference
            .namespace
            .clone()
            .unwrap_or_else(|| gateway.key.namespace.clone());
        let key = ObjectKey::new(
            ResourceKind::AgentgatewayParameters,
            &namespace,
            &reference.name,
        );
        if !ctx.store.parameters.contains_key(&key) {
            ctx.error(
                gateway,
                path,
                format!(
                    "AgentgatewayParameters {namespace}/{} does not exist",
                    reference.name
                ),
                "create it or remove the reference",
            );
            continue;
        }
        chosen.get_or_insert(key);
    }
    if chosen.is_none() && ctx.store.parameters.len() == 1 {
        chosen = ctx.store.parameters.keys().next().cloned();
    }
    let Some(key) = chosen else {
        return Default::default();
    };
    ctx.condition(
        &key,
        Condition::ok("Accepted", "Accepted", "applied to this proxy"),
    );
    let Some(parameters) = ctx.store.parameters.get(&key) else {
        return Default::default();
    };
    let spec = &parameters.resource.spec;
    let logging = LoggingSettings {
        level: spec.logging.as_ref().and_then(|l| l.level.clone()),
        format: spec.logging.as_ref().and_then(|l| l.format),
    };
    let seconds = |s: Option<u32>| s.map(|s| Duration::from_secs(u64::from(s)));
    let shutdown = ShutdownSettings {
        min: seconds(spec.shutdown.as_ref().and_then(|s| s.min)),
        max: seconds(spec.shutdown.as_ref().and_then(|s| s.max)),
    };
    if let (Some(min), Some(max)) = (shutdown.min, shutdown.max)
        && min > max
    {
        let parameters = parameters.clone();
        ctx.error(
            &parameters,
            "spec.shutdown.min",
            format!("min ({}s) is longer than max ({}s)", min.as_secs(), max.as_secs()),
            "min is how long the proxy keeps serving after a stop signal, max how long it then drains; min must not exceed max",
        );
    }
    (logging, shutdown)
}
