use unicode_normalization::UnicodeNormalization;

/// Normalises a security answer before it is hashed or compared: case, accents and white space
/// do not matter ("  Den  Haag" = "den haag", "Café" = "cafe"), punctuation does not either.
pub fn normalise_answer(raw: &str) -> String {
    let folded: String = raw
        .nfkd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn case_spaces_accents_and_punctuation_do_not_matter() {
        assert_eq!(normalise_answer("  Max   Havelaar "), "max havelaar");
        assert_eq!(normalise_answer("MAX HAVELAAR."), "max havelaar");
        assert_eq!(normalise_answer("Café Noël"), "cafe noel");
        assert_eq!(normalise_answer("Het-Achterhuis"), "het achterhuis");
        assert_ne!(normalise_answer("Haarlem"), normalise_answer("Harlem"));
    }

    proptest! {
        #[test]
        fn normalising_is_idempotent(s in "\\PC{0,60}") {
            let once = normalise_answer(&s);
            prop_assert_eq!(normalise_answer(&once), once);
        }
    }
}
