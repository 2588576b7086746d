//! Gateway API `ReferenceGrant`: permission for references across namespaces.

use crate::meta::ObjectMeta;

api_struct! {
    /// Lives in the namespace being referred to and names who may refer to what.
    pub struct ReferenceGrant {
        pub api_version: String,
        pub kind: String,
        pub metadata: ObjectMeta,
        pub spec: ReferenceGrantSpec,
    }
}

api_struct! {
    pub struct ReferenceGrantSpec {
        pub from: Vec<ReferenceGrantFrom>,
        pub to: Vec<ReferenceGrantTo>,
    }
}

api_struct! {
    pub struct ReferenceGrantFrom {
        pub group: String,
        pub kind: String,
        pub namespace: String,
    }
}

api_struct! {
    pub struct ReferenceGrantTo {
        pub group: String,
        pub kind: String,
        /// When set, only this object may be referred to; otherwise every object of the kind.
        #[serde(default)]
        pub name: Option<String>,
    }
}
