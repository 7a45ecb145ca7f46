//! `rollcall settings set trusted_proxies …`: validated, normalised, clearable.

use super::*;

both_backends!(
    trusted_proxies_are_validated_naming_the_setting,
    |db: TestDb| async move {
        let rc = Rollcall::new(db);
        let set = rc
            .ok(&["settings", "set", "trusted_proxies", "10.0.0.0/8,192.168.0.0/16"])
            .await;
        assert!(set.contains("10.0.0.0/8,192.168.0.0/16"), "{set}");
        let bad = rc
            .fails(&["settings", "set", "trusted_proxies", "10.0.0.0/8,10.0.0.0/33"])
            .await;
        assert!(bad.contains("trusted_proxies") && bad.contains("10.0.0.0/33"), "{bad}");
        let list = rc.ok(&["settings", "show"]).await;
        assert!(
            list.contains("10.0.0.0/8,192.168.0.0/16"),
            "a refused value changes nothing: {list}"
        );
        rc.ok(&["settings", "set", "trusted_proxies", ""]).await;
        let list = rc.ok(&["settings", "show"]).await;
        assert!(!list.contains("10.0.0.0/8"), "cleared: {list}");
    }
);
