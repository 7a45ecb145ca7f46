//! Settings.

use super::*;

#[async_trait]
impl SettingReads for SqlTx {
    async fn setting(&mut self, key: &str) -> Result<Option<String>> {
        let row: Option<(String,)> =
            on_conn!(self, c => sqlx::query_as("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(c).await)
                .map_err(db_err)?;
        Ok(row.map(|(v,)| v))
    }
}

#[async_trait]
impl SettingTx for SqlTx {
    async fn set_setting(&mut self, key: &str, value: &str) -> Result<()> {
        const SQL: &str =
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value";
        self.execute(SQL, &[Arg::from(key), Arg::from(value)])
            .await
            .map(drop)
    }
}
