//! Property tests: hostile input never panics, round trips hold (SEC-40).

#![cfg(test)]

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::{Map, Value};
use sessionkit::RefreshError;
use sessionkit::config::RESERVED_CLAIMS;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn claim_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
        prop::collection::vec(any::<u32>(), 0..4).prop_map(Value::from),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn sec_40_arbitrary_strings_never_panic_verify_or_fetch_keys(input in ".{0,300}") {
        let rt = runtime();
        let f = fixture();
        prop_assert!(f.manager.verify(&input).is_err());
        let refreshed = rt.block_on(f.manager.refresh(&input));
        prop_assert!(matches!(refreshed, Err(RefreshError::Unauthorized(_))));
    }

    #[test]
    fn sec_40_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let input = String::from_utf8_lossy(&bytes);
        let rt = runtime();
        let f = fixture();
        prop_assert!(f.manager.verify(&input).is_err());
        prop_assert!(rt.block_on(f.manager.refresh(&input)).is_err());
    }

    #[test]
    fn sec_19_mutated_refresh_tokens_are_rejected_without_revocation(
        pos in any::<prop::sample::Index>(),
        replacement in any::<char>(),
        cut in any::<bool>(),
    ) {
        let rt = runtime();
        let f = fixture();
        let s = rt.block_on(f.manager.create("alice").into_future()).unwrap();
        let original = s.refresh_token.expose().to_owned();
        let mut chars: Vec<char> = original.chars().collect();
        let i = pos.index(chars.len());
        if cut { chars.truncate(i); } else { chars[i] = replacement; }
        let mutated: String = chars.into_iter().collect();
        prop_assume!(mutated != original);
        let r = rt.block_on(f.manager.refresh(&mutated));
        prop_assert!(matches!(r, Err(RefreshError::Unauthorized(_))));
        prop_assert_eq!(f.theft_events(), 0);
        prop_assert!(rt.block_on(f.manager.refresh(&original)).is_ok());
    }

    #[test]
    fn sec_40_mutated_access_tokens_never_verify(
        pos in any::<prop::sample::Index>(),
        replacement in any::<char>(),
    ) {
        let rt = runtime();
        let f = fixture();
        let s = rt.block_on(f.manager.create("alice").into_future()).unwrap();
        let original = s.access_token.expose().to_owned();
        let mut chars: Vec<char> = original.chars().collect();
        let i = pos.index(chars.len());
        chars[i] = replacement;
        let mutated: String = chars.into_iter().collect();
        prop_assume!(mutated != original);
        // A flip in the last base64 character may only touch padding bits,
        // which strict decoding rejects; either way it never verifies as
        // anything but the original.
        if let Ok(v) = f.manager.verify(&mutated) {
            prop_assert_eq!(v.session_handle(), s.handle);
            prop_assert!(false, "mutated token verified");
        }
    }

    #[test]
    fn custom_claims_round_trip(claims in prop::collection::btree_map("[a-z_]{1,12}", claim_value(), 0..6)) {
        let map: Map<String, Value> = claims
            .into_iter()
            .filter(|(k, _)| !RESERVED_CLAIMS.contains(&k.as_str()))
            .collect();
        let rt = runtime();
        let f = fixture();
        let s = rt.block_on(f.manager.create("alice").claims(Value::Object(map.clone())).into_future()).unwrap();
        let v = f.manager.verify(s.access_token.expose()).unwrap();
        prop_assert_eq!(v.claims(), &map);
        let next = rt.block_on(f.manager.refresh(s.refresh_token.expose())).unwrap();
        let v = f.manager.verify(next.access_token.expose()).unwrap();
        prop_assert_eq!(v.claims(), &map);
        prop_assert_eq!(v.user_id(), "alice");
    }

    #[test]
    fn user_ids_round_trip(user in "\\PC{1,64}") {
        let rt = runtime();
        let f = fixture();
        let s = rt.block_on(f.manager.create(&user).into_future()).unwrap();
        let v = f.manager.verify(s.access_token.expose()).unwrap();
        prop_assert_eq!(v.user_id(), user.as_str());
        let listed = rt.block_on(f.manager.sessions_for_user(&user)).unwrap();
        prop_assert_eq!(listed.len(), 1);
    }
}
