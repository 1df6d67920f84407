//! Raw bindings for every interface a Weft component may import.
//!
//! All worlds share these types, so the SDK's helpers work in tool, model
//! and agent components alike. wit-component keeps only the imports a
//! component actually calls, so linking this world adds nothing unused.

#![allow(missing_docs, unsafe_code, clippy::all)]

wit_bindgen::generate!({
    path: "../../wit",
    inline: "
        package weft:sdk;

        world imports {
            import weft:plugins/logging@0.1.0;
            import weft:plugins/state@0.1.0;
            import weft:plugins/clock@0.1.0;
            import weft:plugins/config@0.1.0;
            import weft:plugins/toolbox@0.1.0;
            import weft:plugins/approval@0.1.0;
            import weft:plugins/model@0.1.0;
        }
    ",
    world: "weft:sdk/imports",
    additional_derives: [PartialEq],
    generate_all,
});
