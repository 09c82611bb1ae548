//! Boot Images and OS Images: one set of pages, told apart by [`Kind`].

mod add;
mod browser;
mod detail;
mod drivers_tab;
mod list;
mod recipe;
pub(crate) mod upload;

pub use add::{AddBootImagePage, AddOsImagePage};
pub use detail::{BootImagePage, OsImagePage};
pub use list::{BootImagesPage, OsImagesPage};

/// Which catalog a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Boot,
    Os,
}

impl Kind {
    /// The name the server functions take.
    pub(crate) fn wire(self) -> &'static str {
        match self {
            Kind::Boot => "boot",
            Kind::Os => "os",
        }
    }

    /// The object type's name in security (the Security panel).
    pub(crate) fn object_type(self) -> &'static str {
        match self {
            Kind::Boot => "boot-image",
            Kind::Os => "os-image",
        }
    }

    pub(crate) fn title(self) -> &'static str {
        match self {
            Kind::Boot => "Boot Images",
            Kind::Os => "Operating System Images",
        }
    }

    pub(crate) fn noun(self) -> &'static str {
        match self {
            Kind::Boot => "boot image",
            Kind::Os => "OS image",
        }
    }

    pub(crate) fn base(self) -> &'static str {
        match self {
            Kind::Boot => "/boot-images",
            Kind::Os => "/os-images",
        }
    }
}

/// Decompressed size as the reference console shows it: whole KB with separators.
pub(crate) fn kilobytes(bytes: u64) -> String {
    let kb = bytes.div_ceil(1024).to_string();
    let mut out = String::new();
    for (i, c) in kb.chars().enumerate() {
        if i > 0 && (kb.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out} KB")
}

/// A boot image's marks as badges: a warning one for what must not reach production.
pub(crate) fn marks(marks: &[(String, bool)]) -> impl leptos::IntoView + use<> {
    use leptos::prelude::*;
    marks
        .iter()
        .map(|(label, warning)| {
            let class = if *warning { "badge warning" } else { "badge" };
            view! { " " <span class=class>{label.clone()}</span> }
        })
        .collect_view()
}

/// The state of an image as a badge label.
pub(crate) fn state_label(state: &str) -> &'static str {
    match state {
        "damaged" => "Damaged",
        "missing" => "File missing",
        _ => "Ready",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn kilobytes_round_up_with_separators() {
        assert_eq!(super::kilobytes(0), "0 KB");
        assert_eq!(super::kilobytes(1), "1 KB");
        assert_eq!(super::kilobytes(1_572_864), "1,536 KB");
        assert_eq!(super::kilobytes(3_221_225_472), "3,145,728 KB");
    }
}
