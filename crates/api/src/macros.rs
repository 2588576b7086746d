/// Declares a struct of the resource API with the conventions every such type shares:
/// camelCase keys, unknown keys rejected, a JSON Schema, and cheap cloning for the compiler.
macro_rules! api_struct {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Deserialize, schemars::JsonSchema)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        $vis struct $name { $($body)* }
    };
}

/// Declares an enum of plain string values (`Strict`, `Minutes`, ...), spelt as in the API.
macro_rules! api_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($variant:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, schemars::JsonSchema)]
        $vis enum $name { $($variant),* }

        impl $name {
            /// The value as it is spelt in YAML.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$variant => stringify!($variant)),*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
