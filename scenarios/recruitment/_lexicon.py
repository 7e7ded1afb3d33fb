"""Demographic vocabulary shared by the redactor, the counterfactual audit and the
synthetic pool's generator: names typical of four origin groups (by gender), pronouns and
gendered words with their neutral forms and their opposites, nationality and ethnicity
terms, marital-status words.

The name lists are *typical*, not exhaustive: the redactor masks a candidate's own name
wherever it appears whatever list it is on, and uses these lists only to catch other
people's first names (a referee's, say).
"""

from __future__ import annotations

ORIGINS = ("anglo", "hispanic", "east_asian", "west_african")
GENDERS = ("female", "male")

FIRST_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "anglo": {
        "female": ("Emily", "Sarah", "Hannah", "Megan", "Claire", "Abigail", "Laura",
                   "Rebecca", "Katie", "Molly"),
        "male": ("James", "Michael", "Connor", "Jack", "Ethan", "Thomas", "Liam", "Owen",
                 "Daniel", "George"),
    },
    "hispanic": {
        "female": ("Maria", "Sofia", "Lucia", "Camila", "Valentina", "Ximena", "Paula",
                   "Carmen", "Daniela", "Gabriela"),
        "male": ("Carlos", "Diego", "Javier", "Mateo", "Alejandro", "Santiago", "Pablo",
                 "Andres", "Luis", "Miguel"),
    },
    "east_asian": {
        "female": ("Mei", "Yuki", "Jiwoo", "Xiu", "Hana", "Aiko", "Lan", "Minji", "Yan",
                   "Sakura"),
        "male": ("Wei", "Hiroshi", "Minjun", "Jun", "Kenji", "Haoran", "Takeshi", "Jisung",
                 "Bao", "Zhiwei"),
    },
    "west_african": {
        "female": ("Amara", "Chiamaka", "Ngozi", "Adaeze", "Abena", "Efua", "Folake",
                   "Yetunde", "Ama", "Nneka"),
        "male": ("Chinedu", "Kwame", "Oluwaseun", "Emeka", "Kofi", "Tunde", "Yaw",
                 "Obinna", "Kwabena", "Segun"),
    },
}
SURNAMES: dict[str, tuple[str, ...]] = {
    "anglo": ("Smith", "Walsh", "Baker", "Turner", "Clarke", "Hughes", "Parker", "Bennett",
              "Cooper", "Wright"),
    "hispanic": ("Garcia", "Rodriguez", "Hernandez", "Lopez", "Morales", "Castillo",
                 "Vargas", "Ortega", "Ramirez", "Mendoza"),
    "east_asian": ("Chen", "Wang", "Tanaka", "Kim", "Nguyen", "Li", "Park", "Sato", "Zhang",
                   "Yamamoto"),
    "west_african": ("Okafor", "Mensah", "Adeyemi", "Okonkwo", "Boateng", "Asante",
                     "Balogun", "Owusu", "Eze", "Danso"),
}
NATIONALITIES: dict[str, tuple[str, ...]] = {
    "anglo": ("British", "American", "Canadian", "Irish", "Australian"),
    "hispanic": ("Mexican", "Colombian", "Spanish", "Argentinian", "Peruvian"),
    "east_asian": ("Chinese", "Japanese", "Korean", "Vietnamese", "Taiwanese"),
    "west_african": ("Nigerian", "Ghanaian", "Senegalese", "Ivorian", "Beninese"),
}
#: More demonyms than the pool uses, so the redactor is not tuned to the pool.
EXTRA_NATIONALITIES = ("Indian", "Pakistani", "Bangladeshi", "Filipino", "Indonesian",
                       "Brazilian", "Portuguese", "French", "German", "Italian", "Polish",
                       "Ukrainian", "Russian", "Turkish", "Egyptian", "Moroccan", "Kenyan",
                       "Ethiopian", "South African", "Iranian", "Iraqi", "Syrian",
                       "Lebanese", "Israeli", "Dutch", "Swedish", "Norwegian", "Greek",
                       "Romanian", "Jamaican", "Cuban", "Chilean", "Venezuelan", "Thai",
                       "Malaysian", "Singaporean", "New Zealander", "Scottish", "Welsh")
ETHNICITIES = ("African American", "Afro-Caribbean", "Hispanic", "Latino", "Latina",
               "Latinx", "Caucasian", "Asian American", "Pacific Islander",
               "Native American", "Indigenous", "Arab", "Jewish", "Muslim", "Christian",
               "Hindu", "Sikh", "Buddhist")
#: Colour words are ethnicity terms only next to a person noun ("Black engineer").
COLOUR_TERMS = ("Black", "White", "Brown", "Asian")
PERSON_NOUNS = ("woman", "women", "man", "men", "person", "people", "engineer",
                "professional", "candidate", "student", "employee", "founder", "leader",
                "nurse", "teacher", "developer", "designer", "heritage", "community")

#: Pronouns and gendered words → neutral forms (what the redactor writes).
NEUTRAL: dict[str, str] = {
    "he": "they", "she": "they", "him": "them", "his": "their", "her": "their",
    "hers": "theirs", "himself": "themself", "herself": "themself",
    "man": "person", "woman": "person", "men": "people", "women": "people",
    "male": "person", "female": "person", "boy": "child", "girl": "child",
    "boys": "children", "girls": "children", "gentleman": "person", "lady": "person",
    "gentlemen": "people", "ladies": "people", "mother": "parent", "father": "parent",
    "mothers": "parents", "fathers": "parents", "mom": "parent", "dad": "parent",
    "son": "child", "daughter": "child", "brother": "sibling", "sister": "sibling",
    "businessman": "businessperson", "businesswoman": "businessperson",
    "chairman": "chair", "chairwoman": "chair", "salesman": "salesperson",
    "saleswoman": "salesperson", "spokesman": "spokesperson", "spokeswoman": "spokesperson",
    "fraternity": "student society", "sorority": "student society",
    "maternity": "parental", "paternity": "parental", "mr": "", "mrs": "", "ms": "",
    "miss": "", "mx": "", "sir": "", "madam": "",
}
#: Verb forms that follow a pronoun, so "she is" reads "they are" once masked.
PRONOUN_VERBS = {"is": "are", "was": "were", "has": "have", "does": "do"}

#: Gendered words → their opposite (the counterfactual gender swap).
OPPOSITE: dict[str, str] = {
    "he": "she", "she": "he", "him": "her", "his": "her", "hers": "his",
    "himself": "herself", "herself": "himself", "man": "woman", "woman": "man",
    "men": "women", "women": "men", "male": "female", "female": "male",
    "mother": "father", "father": "mother",
    "businessman": "businesswoman", "businesswoman": "businessman",
    "chairman": "chairwoman", "chairwoman": "chairman", "fraternity": "sorority",
    "sorority": "fraternity", "maternity": "paternity", "paternity": "maternity",
    "wife": "husband", "husband": "wife", "son": "daughter", "daughter": "son",
}

MARITAL_WORDS = ("married", "divorced", "widowed", "widow", "widower", "engaged",
                 "separated", "wife", "husband", "spouse", "pregnant", "newlywed")


def all_first_names() -> dict[str, tuple[str, str]]:
    """Every listed first name → ``(origin, gender)``."""
    return {name: (origin, gender) for origin, by_gender in FIRST_NAMES.items()
            for gender, names in by_gender.items() for name in names}


def all_nationalities() -> tuple[str, ...]:
    listed = tuple(n for names in NATIONALITIES.values() for n in names)
    return listed + EXTRA_NATIONALITIES
