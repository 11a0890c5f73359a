//! The devices registry: what ingest checks device messages against, and
//! what the admin CLI and the API read and change.

use atrium_proto::iot::DeviceKind;
use atrium_proto::{DeviceId, SiteId};
use deadpool_postgres::GenericClient;

/// Every device's identity, kind and whether it is enabled. Rows whose
/// ids are not valid identifiers (made outside Atrium) are left out, with
/// a warning.
pub async fn registry(
    client: &impl GenericClient,
) -> Result<Vec<(DeviceId, SiteId, DeviceKind, bool)>, tokio_postgres::Error> {
    let rows = client
        .query("SELECT id, site_id, kind, enabled FROM devices", &[])
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: String = r.try_get("id")?;
        let site: String = r.try_get("site_id")?;
        let kind: String = r.try_get("kind")?;
        let enabled: bool = r.try_get("enabled")?;
        match (
            DeviceId::new(id.clone()),
            SiteId::new(site),
            DeviceKind::parse(&kind),
        ) {
            (Ok(id), Ok(site), Some(kind)) => out.push((id, site, kind, enabled)),
            _ => {
                tracing::warn!(device = %id, "device with an invalid id, site or kind ignored by ingest")
            }
        }
    }
    Ok(out)
}
