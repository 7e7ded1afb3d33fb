"""The invented world the evaluation set is drawn from: four domains, their facets, and two
disjoint phrasings of every facet (how documents state it, how people ask about it).

Every name is made up (syllables, codes), so no model has seen the facts, and names are
built to collide: brands share model codes, towns share stems, services share words. A
query names its entity (or describes it) in the words people use, not the words of the
document, so BM25 must find the entity and the vector model the meaning.

Template fields: ``{name}`` is the entity; other fields come from the facet's value
sampler in ``memory.evalset._generate``. Query templates never reuse a document template's
content words for the fact itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Facet:
    """One kind of fact about an entity.

    Attributes:
        name: Facet id.
        docs: Ways a document states the fact.
        queries: Ways a person asks for it.
        kind: ``mixed`` (entity named, fact paraphrased), ``keyword`` (an exact code) or
            ``paraphrase`` (entity described, not named).
        per_entity: How many documents of this facet each entity gets.
    """

    name: str
    docs: tuple[str, ...]
    queries: tuple[str, ...]
    kind: str = "mixed"
    per_entity: int = 1


#: Sentences appended to some documents: realistic noise that shares words across facets.
FILLERS = (
    "Charging cables are sold separately.",
    "See the manual for the full specification.",
    "Figures were checked in the spring audit.",
    "This note replaces the older wiki page.",
    "Contact support if the numbers look wrong.",
    "Values may differ slightly between production batches.",
    "The information was last reviewed by the documentation team.",
    "Older guides may still show different numbers.",
    "Weather and altitude can change these results.",
    "Ask the local office for the latest details.",
)

DRONE_FACETS = (
    Facet("flight_time", (
        "{name} flight time: about {minutes} minutes on one battery.",
        "On a fully charged pack the {name} flies for roughly {minutes} minutes.",
        "Expect around {minutes} minutes of flying per battery with the {name}.",
    ), (
        "how long can the {name} stay up before it has to land for fresh power?",
        "{name} endurance in the air",
        "flight time of the {name}",
        "how many minutes will a {name} hover before its cell is drained?",
    )),
    Facet("charge_time", (
        "Recharging a {name} battery from empty takes {minutes} minutes.",
        "The {name} charger fills a flat pack in about {minutes} minutes.",
    ), (
        "how long does it take to top up the {name} power cell?",
        "{name}: waiting time until the accumulator is ready again",
        "{name} recharging time",
    )),
    Facet("payload", (
        "The {name} lifts up to {kg} kg of cargo.",
        "Maximum payload of the {name}: {kg} kg.",
    ), (
        "what is the heaviest parcel a {name} can carry?",
        "how much weight can the {name} haul?",
        "{name} max payload",
    )),
    Facet("range", (
        "Control range of the {name} is {km} km in open terrain.",
        "The {name} keeps its radio link up to {km} km away.",
    ), (
        "how far can I send the {name} before losing contact?",
        "{name} maximum distance from the pilot",
        "{name} control range",
    )),
    Facet("price", (
        "The {name} sells for {euros} euros.",
        "List price of the {name}: EUR {euros}.",
    ), (
        "how much does the {name} cost?",
        "what would I pay to buy a {name}?",
        "{name} price",
    )),
    Facet("warranty", (
        "The {name} comes with a {months}-month warranty.",
        "Manufacturer guarantee for the {name}: {months} months.",
    ), (
        "how long is the {name} covered if it breaks?",
        "{name} free repair period after purchase",
        "{name} warranty length",
    )),
    Facet("rain", (
        "The {name} is rated IP{ip} and handles {rain}.",
        "With its IP{ip} sealing the {name} copes with {rain}.",
    ), (
        "can I fly the {name} in wet weather?",
        "is the {name} waterproof?",
        "{name} weather sealing",
    )),
    Facet("cold", (
        "The {name} operates between {low} and {high} degrees Celsius.",
        "Working temperature range of the {name}: {low} to {high} C.",
    ), (
        "will the {name} work when it is freezing outside?",
        "{name} coldest conditions it tolerates",
        "{name} operating temperature",
    )),
    Facet("weight", (
        "The {name} weighs {grams} grams with propellers fitted.",
        "Take-off mass of the {name}: {grams} g.",
    ), (
        "how heavy is the {name} itself?",
        "what does an empty {name} weigh on the scales?",
        "{name} take-off mass",
    )),
    Facet("error", (
        "Error {code} on the {name} means {meaning}.",
        "If the {name} shows {code}, {meaning}.",
    ), (
        "{code} on my {name}",
        "{name} {code}",
        "what does {code} mean",
    ), kind="keyword", per_entity=2),
    Facet("profile", (
        "The {name} is a {form} {category} built for {activity} {target}.",
        "Designed for {activity} {target}, the {name} is a {form} {category}.",
    ), (
        "which {category_q} is meant for {activity_q} {target_q} and is {form_q}?",
        "I need a {form_q} {category_q} for {activity_q} {target_q}: which model?",
    ), kind="paraphrase"),
)

SERVICE_FACETS = (
    Facet("rate_limit", (
        "The {name} API accepts at most {count} requests per minute per client.",
        "Rate limit on {name}: {count} calls per minute; extra calls get HTTP 429.",
    ), (
        "how often may a script hit {name} before it gets throttled?",
        "{name} throttling threshold",
        "{name} rate limit",
    )),
    Facet("retention", (
        "{name} keeps its records for {days} days before purging them.",
        "Data retention for {name} is {days} days.",
    ), (
        "how long is information stored in {name} before it is deleted?",
        "when does {name} throw away old entries?",
        "{name} retention period",
    )),
    Facet("owner", (
        "{name} is owned by the {team} team.",
        "Questions about {name} go to team {team}.",
    ), (
        "who maintains {name}?",
        "which group is responsible for {name}?",
        "{name} owner team",
    )),
    Facet("oncall", (
        "Page the on-call engineer for {name} in the #{channel} channel.",
        "Incidents in {name} are handled in #{channel}.",
    ), (
        "where do I report an outage of {name}?",
        "{name} is down: where do I raise the alarm?",
        "{name} on-call channel",
    )),
    Facet("deploy", (
        "{name} is deployed on {day}s after {hour}:00 UTC.",
        "Release window for {name}: {day} from {hour}:00 UTC.",
    ), (
        "when can changes to {name} be shipped to production?",
        "what day do new versions of {name} go live?",
        "{name} release window",
    )),
    Facet("auth", (
        "Clients authenticate to {name} with {auth}.",
        "{name} requires {auth} on every request.",
    ), (
        "how do I log in to {name} from a script?",
        "what credentials does {name} expect?",
        "{name} authentication",
    )),
    Facet("language", (
        "{name} is written in {lang} and runs on {platform}.",
        "The {name} codebase is {lang}, deployed to {platform}.",
    ), (
        "what programming language was {name} implemented in?",
        "which tech stack is behind {name}?",
        "{name} codebase language",
    )),
    Facet("error", (
        "{name} returns {code} when {meaning}.",
        "Status {code} from {name}: {meaning}.",
    ), (
        "got {code} calling {name}",
        "what does {code} mean in {name}",
        "{code}",
    ), kind="keyword", per_entity=2),
    Facet("profile", (
        "{name} is the {category} that {function} for the {dept} department.",
        "The {dept} department relies on {name}, a {category} that {function}.",
    ), (
        "which system {function_q} for {dept_q}?",
        "what tool does {dept_q} use that {function_q}?",
    ), kind="paraphrase"),
)

TOWN_FACETS = (
    Facet("population", (
        "{name} has {count} inhabitants.",
        "Population of {name}: about {count} residents at the last census.",
    ), (
        "how many people live in {name}?",
        "how big is the community of {name}?",
        "{name} population",
    )),
    Facet("founded", (
        "{name} was founded in {year}.",
        "The first charter of {name} dates from {year}.",
    ), (
        "how old is {name}?",
        "when did {name} come into existence?",
        "{name} founding charter",
    )),
    Facet("river", (
        "{name} lies on the banks of the {river}.",
        "The {river} flows through {name}.",
    ), (
        "which waterway runs past {name}?",
        "what stream crosses {name}?",
        "river through {name}",
    )),
    Facet("festival", (
        "Every {month} {name} holds its {fest} festival.",
        "The {fest} festival takes place in {name} each {month}.",
    ), (
        "when is the big yearly celebration in {name}?",
        "what party does {name} throw every year?",
        "{name} festival month",
    )),
    Facet("twin", (
        "{name} is twinned with {other}.",
        "The sister city of {name} is {other}.",
    ), (
        "which place has a partnership with {name}?",
        "{name} partner municipality abroad",
        "{name} twinned with",
    )),
    Facet("industry", (
        "The main employer in {name} is {industry}.",
        "Most jobs in {name} are in {industry}.",
    ), (
        "how do people in {name} earn a living?",
        "what is the economic backbone of {name}?",
        "main employer {name}",
    )),
    Facet("altitude", (
        "{name} sits {metres} metres above sea level.",
        "Elevation of {name}: {metres} m.",
    ), (
        "how high up is {name}?",
        "{name} height over the ocean",
        "{name} elevation",
    )),
    Facet("train", (
        "From {name} station, trains leave for {other} every {minutes} minutes.",
        "Rail service: {name} to {other} runs every {minutes} minutes.",
    ), (
        "how often can I catch a connection from {name} to {other}?",
        "{name} {other} frequency of departures",
        "{name} to {other} trains",
    )),
    Facet("postcode", (
        "Postcode {code} covers the centre of {name}.",
        "Mail for {name} uses the postcode {code}.",
    ), (
        "{code} postcode",
        "which town is {code}",
        "{code} address lookup",
    ), kind="keyword"),
    Facet("profile", (
        "{name} is a {size} {category} known for its {landmark}.",
        "Known for its {landmark}, {name} is a {size} {category}.",
    ), (
        "which {size_q} place is famous for {landmark_q}?",
        "I remember a {size_q} spot with {landmark_q}: what is it called?",
    ), kind="paraphrase"),
)

PLANT_FACETS = (
    Facet("water", (
        "Water {name} every {days} days and let the top soil dry out in between.",
        "{name} needs watering about every {days} days.",
    ), (
        "how often does {name} need a drink?",
        "{name} irrigation schedule",
        "{name} watering",
    )),
    Facet("light", (
        "{name} prefers {light}.",
        "Give {name} {light} for the best colour.",
    ), (
        "where should I put {name}, by a sunny window or in a dark corner?",
        "how much sun does {name} want?",
        "{name} light",
    )),
    Facet("toxic", (
        "{name} is {toxicity} to cats and dogs.",
        "Pet safety: {name} is {toxicity} for animals.",
    ), (
        "is {name} safe around my kitten?",
        "can my puppy chew {name} without harm?",
        "{name} toxic to cats",
    )),
    Facet("repot", (
        "Repot {name} every {years} years in spring.",
        "{name} should get a new pot every {years} years.",
    ), (
        "when should {name} be moved to a bigger container?",
        "how frequently must {name} be transplanted?",
        "{name} repot",
    )),
    Facet("temperature", (
        "Keep {name} above {degrees} degrees Celsius.",
        "{name} is damaged below {degrees} C.",
    ), (
        "how chilly can it get for {name} before it suffers?",
        "{name} minimum room warmth",
        "{name} minimum degrees",
    )),
    Facet("propagation", (
        "{name} is propagated from {method}.",
        "New {name} plants are raised from {method}.",
    ), (
        "how can I grow a second {name} from the one I have?",
        "{name} multiply at home",
        "{name} propagation",
    )),
    Facet("height", (
        "{name} grows to about {cm} cm tall.",
        "A mature {name} reaches roughly {cm} cm.",
    ), (
        "how big will {name} eventually get?",
        "final size of {name}",
        "{name} mature height",
    )),
    Facet("sku", (
        "Catalogue number {code}: {name} in a {pot} cm pot, {euros} euros.",
        "{name} is listed under stock code {code} ({pot} cm pot).",
    ), (
        "{code}",
        "item {code} in the nursery catalogue",
        "what plant is {code}",
    ), kind="keyword"),
    Facet("profile", (
        "{name} is a {habit} plant with {leaf} leaves.",
        "With its {leaf} leaves, {name} is a {habit} plant.",
    ), (
        "which greenery has {leaf_q} foliage and {habit_q}?",
        "looking for a houseplant that is {habit_q} with {leaf_q} foliage",
    ), kind="paraphrase"),
)

#: ``(domain, facets)`` in the order the generator walks them.
DOMAINS: tuple[tuple[str, tuple[Facet, ...]], ...] = (
    ("drones", DRONE_FACETS),
    ("services", SERVICE_FACETS),
    ("towns", TOWN_FACETS),
    ("plants", PLANT_FACETS),
)
