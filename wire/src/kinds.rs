//! Closed sets of reasons with stable names: why a link closed, why a
//! handshake was refused, why a frame was rejected.
//!
//! [`kinds!`](crate::kinds) declares each as a fieldless enum whose variants
//! carry their snake_case name. The name is the key of a counter in
//! `generals status` (serialized as that string, so the control protocol's
//! JSON keeps its keys) and the value of a metric label; `ALL` lists every
//! variant, so a metric can show each reason at 0 before it first happens.
//! Being a type, a set cannot grow a misspelt member at one call site.

/// Declares a kind enum: `kinds! { /// doc  pub enum Name { Variant => "name", ... } }`.
///
/// The enum gets `ALL`, `as_str()`, `from_name()`, `Display`, comparison
/// with `&str`, `Borrow<str>` (a map keyed by it is read with a name), an
/// order by name (so maps keyed by it list names
/// alphabetically, as the string-keyed maps before it did), and serde as
/// its name.
#[macro_export]
macro_rules! kinds {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every member, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable snake_case name: counter key and metric label value.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The member with this name.
            pub fn from_name(name: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|k| k.as_str() == name)
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::core::cmp::PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        // Hash and order follow the name, so that `Borrow<str>` holds its
        // contract and a map keyed by kinds can be read with a name.
        impl ::core::hash::Hash for $name {
            fn hash<H: ::core::hash::Hasher>(&self, h: &mut H) {
                self.as_str().hash(h)
            }
        }

        impl ::core::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                self.as_str()
            }
        }

        impl ::core::cmp::Ord for $name {
            fn cmp(&self, other: &Self) -> ::core::cmp::Ordering {
                self.as_str().cmp(other.as_str())
            }
        }

        impl ::core::cmp::PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<::core::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl $crate::__serde::Serialize for $name {
            fn serialize<S: $crate::__serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> $crate::__serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::__serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = <::std::borrow::Cow<'de, str> as $crate::__serde::Deserialize>::deserialize(d)?;
                $name::from_name(&name).ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|k| k.as_str()).collect();
                    <D::Error as $crate::__serde::de::Error>::custom(format_args!(
                        "unknown {} {:?} (this program knows {}); is the daemon newer than the CLI?",
                        stringify!($name),
                        name,
                        names.join(", "),
                    ))
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::kinds! {
        /// A test set.
        enum Colour {
            Red => "red",
            DarkBlue => "dark_blue",
            Amber => "amber",
        }
    }

    #[test]
    fn names_round_trip_and_order_alphabetically() {
        for k in Colour::ALL {
            assert_eq!(Colour::from_name(k.as_str()), Some(*k));
            let json = serde_json::to_string(k).unwrap();
            assert_eq!(json, format!("\"{k}\""));
            assert_eq!(serde_json::from_str::<Colour>(&json).unwrap(), *k);
        }
        assert_eq!(Colour::DarkBlue, "dark_blue");
        let mut sorted = Colour::ALL.to_vec();
        sorted.sort();
        assert_eq!(sorted, [Colour::Amber, Colour::DarkBlue, Colour::Red]);
        let map: std::collections::BTreeMap<Colour, u64> =
            [(Colour::Red, 1), (Colour::Amber, 2)].into();
        assert_eq!(map.get("amber"), Some(&2));
        assert_eq!(
            serde_json::to_string(&map).unwrap(),
            r#"{"amber":2,"red":1}"#
        );
        let err = serde_json::from_str::<Colour>("\"green\"").unwrap_err();
        assert!(
            err.to_string().contains("unknown Colour \"green\""),
            "{err}"
        );
    }
}
