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

/// Shortest and longest answer accepted at registration, counted on the normalised answer.
pub const ANSWER_MIN_CHARS: usize = 3;
pub const ANSWER_MAX_CHARS: usize = 40;

/// Why an answer cannot be registered (shown to the user, translated).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnswerProblem {
    #[error("shorter than {min} characters")]
    TooShort { min: usize },
    #[error("longer than {max} characters")]
    TooLong { max: usize },
    /// Guessable from the question itself ("Wat is je geboorteplaats?" → "geboorteplaats").
    #[error("contained in the question")]
    InQuestion,
    /// The same answer as another question of this registration.
    #[error("the same as another answer")]
    Duplicate,
}

/// A security answer fit to register: normalised, 3–40 characters, not contained in its
/// question (in any language the question is shown in). Only its argon2id hash is ever stored;
/// `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct NewAnswer(String);

impl std::fmt::Debug for NewAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewAnswer(******)")
    }
}

impl NewAnswer {
    /// `question_texts`: the question as shown, in every language.
    pub fn parse(raw: &str, question_texts: &[String]) -> Result<Self, AnswerProblem> {
        let normalised = normalise_answer(raw);
        let chars = normalised.chars().count();
        if chars < ANSWER_MIN_CHARS {
            return Err(AnswerProblem::TooShort {
                min: ANSWER_MIN_CHARS,
            });
        }
        if chars > ANSWER_MAX_CHARS {
            return Err(AnswerProblem::TooLong {
                max: ANSWER_MAX_CHARS,
            });
        }
        // Whole words only: "Ede" is a fine answer to a question that contains "bijvoorbeeld".
        let padded = format!(" {normalised} ");
        if question_texts
            .iter()
            .any(|q| format!(" {} ", normalise_answer(q)).contains(&padded))
        {
            return Err(AnswerProblem::InQuestion);
        }
        Ok(Self(normalised))
    }

    /// The normalised answer, to hash (and to compare with the other answers).
    pub fn expose(&self) -> &str {
        &self.0
    }
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

    #[test]
    fn new_answers_follow_the_registration_rules() {
        let q = vec![
            "In welke plaats ben je geboren?".to_string(),
            "In which city were you born?".to_string(),
        ];
        assert_eq!(
            NewAnswer::parse("Ed", &q),
            Err(AnswerProblem::TooShort { min: 3 })
        );
        assert_eq!(
            NewAnswer::parse(&"a".repeat(41), &q),
            Err(AnswerProblem::TooLong { max: 40 })
        );
        assert_eq!(
            NewAnswer::parse("  Geboren ", &q),
            Err(AnswerProblem::InQuestion)
        );
        assert_eq!(NewAnswer::parse("city", &q), Err(AnswerProblem::InQuestion));
        assert_eq!(
            NewAnswer::parse(" Haarlem! ", &q).unwrap().expose(),
            "haarlem"
        );
        // A word that merely contains a question word is fine.
        assert!(NewAnswer::parse("Plaatsnaam-Oost", &q).is_ok());
        assert!(!format!("{:?}", NewAnswer::parse("Haarlem", &q).unwrap()).contains("aarlem"));
    }

    proptest! {
        #[test]
        fn normalising_is_idempotent(s in "\\PC{0,60}") {
            let once = normalise_answer(&s);
            prop_assert_eq!(normalise_answer(&once), once);
        }
    }
}
