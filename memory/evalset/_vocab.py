"""Word lists of the evaluation world: name parts, fact values, and descriptor pairs.

A descriptor pair is ``(as a document says it, as a person asks it)``: the two sides share
meaning, rarely words, which is what makes the paraphrase queries hard for BM25.
"""

from __future__ import annotations

SYLLABLES = ("vor", "lan", "bri", "sa", "kel", "tor", "mi", "ra", "qu", "ent", "dal", "ven",
             "os", "ka", "ri", "mon", "zel", "ta", "ur", "fen", "gal", "ith", "po", "nar")

DRONE_CODES = tuple(f"{letter}{digit}" for letter in "KTXSMR" for digit in range(2, 10))
DRONE_CATEGORY = ("drone", "quadcopter")
DRONE_CATEGORY_Q = ("UAV", "unmanned aircraft", "flying robot")
DRONE_FORMS = (("foldable", "collapsible"), ("heavy-lift", "high-capacity"),
               ("fixed-wing", "plane-shaped"), ("tethered", "cable-powered"),
               ("palm-sized", "pocket"), ("hybrid VTOL", "vertical-takeoff"))
DRONE_ACTIVITIES = (("mapping", "charting"), ("inspecting", "examining"),
                    ("monitoring", "keeping watch over"), ("filming", "recording footage of"),
                    ("patrolling", "guarding"))
DRONE_TARGETS = (("vineyards", "grape farms"), ("bridges", "viaducts"),
                 ("solar farms", "photovoltaic parks"), ("wind turbines", "wind generators"),
                 ("pipelines", "oil and gas lines"), ("forests", "woodland"),
                 ("coastlines", "shores"), ("construction sites", "building projects"),
                 ("orchards", "fruit plantations"), ("rooftops", "roofs"),
                 ("power lines", "electricity cables"), ("wildlife reserves", "nature parks"),
                 ("harbours", "ports"), ("railway tracks", "train lines"),
                 ("glaciers", "ice fields"), ("stadiums", "sports arenas"))
DRONE_ERRORS = ("the compass needs calibrating", "a motor is overheating",
                "the GPS fix was lost", "a propeller is unbalanced",
                "a battery cell is failing", "the gimbal is blocked",
                "the obstacle sensors are dirty", "the firmware update did not finish")
RAIN = ("light rain", "steady showers", "drizzle", "wet snow", "sea spray")

SERVICE_WORDS_A = ("ledger", "quill", "atlas", "harbor", "nimbus", "cobalt", "signal", "ember",
                   "pixel", "vault", "relay", "orbit", "beacon", "prism")
SERVICE_WORDS_B = ("sync", "audit", "gate", "hub", "stream", "desk", "forge", "watch",
                   "bridge", "pilot", "keeper", "scope")
SERVICE_CATEGORY = ("service", "backend", "internal API")
SERVICE_FUNCTIONS = (
    ("reconciles invoices", "matches bills against incoming payments"),
    ("schedules staff shifts", "plans employee rotas"),
    ("sends password reset emails", "mails people who forgot their login"),
    ("resizes product photos", "scales catalogue images"),
    ("tracks parcel deliveries", "follows packages in transit"),
    ("detects fraudulent card payments", "spots suspicious credit card charges"),
    ("translates support tickets", "converts customer requests into other languages"),
    ("archives signed contracts", "stores executed agreements"),
    ("generates monthly payslips", "produces salary statements"),
    ("books meeting rooms", "reserves conference spaces"),
    ("scores sales leads", "ranks prospective customers"),
    ("rotates database credentials", "renews secrets for data stores"),
    ("publishes the product catalogue", "puts item listings online"),
    ("collects survey answers", "gathers questionnaire responses"),
    ("forecasts inventory levels", "predicts stock needs"),
    ("monitors website uptime", "watches whether the site is reachable"),
    ("anonymises customer records", "strips personal details from client data"),
    ("exports tax reports", "prepares filings for the revenue office"),
)
SERVICE_DEPTS = (("finance", "accounting"), ("human resources", "people operations"),
                 ("marketing", "brand"), ("logistics", "shipping"), ("legal", "compliance"),
                 ("sales", "commercial"), ("customer support", "the help desk"),
                 ("security", "infosec"), ("facilities", "office management"))
SERVICE_ERRORS = ("the access token has expired", "the request body is not valid JSON",
                  "an upstream dependency timed out", "the client exceeded its quota",
                  "the record is locked by another writer", "the schema version is too old",
                  "the signature does not match", "the tenant is suspended")
TEAMS = ("Nimbus", "Atlas", "Kestrel", "Juniper", "Basalt", "Meridian", "Tundra", "Saffron",
         "Quartz", "Harbour", "Lumen", "Orchid")
AUTH = ("OAuth2 client credentials", "mutual TLS certificates", "signed JWT bearer tokens",
        "API keys in a header", "HMAC-signed requests")
LANGS = ("Go", "Rust", "Python", "Kotlin", "TypeScript", "Java", "Elixir")
PLATFORMS = ("Kubernetes", "bare-metal hosts", "AWS Lambda", "Nomad", "a single VM")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")

TOWN_STEMS = ("Vellmora", "Kestrow", "Ardun", "Maldre", "Tiverne", "Olsk", "Brenna", "Quorrin",
              "Halvik", "Zeyne", "Parth", "Lindow", "Carrow", "Essel", "Morva", "Drent",
              "Ulvan", "Sorrel", "Fenwick", "Gallow", "Istra", "Rookmoor", "Navin", "Tarsk",
              "Wendal", "Corvel", "Ebbin", "Harrow", "Lusk", "Pellan", "Skarn", "Vayle",
              "Oskel", "Brisk", "Amber")
TOWN_PATTERNS = ("{stem}", "Upper {stem}", "{stem} Bay", "Port {stem}")
TOWN_CATEGORY = ("town", "village", "city")
TOWN_SIZES = (("small fishing", "little harbour"), ("mountain", "alpine"),
              ("lakeside", "waterfront"), ("border", "frontier"), ("university", "student"),
              ("medieval market", "old trading"), ("spa", "wellness"),
              ("industrial", "factory"), ("island", "offshore"))
TOWN_LANDMARKS = (("leaning clock tower", "crooked belfry"), ("floating market", "boat bazaar"),
                  ("hot springs", "thermal baths"),
                  ("salt cathedral", "church carved inside a mine"),
                  ("painted wooden houses", "colourful timber homes"),
                  ("cliff-top monastery", "abbey perched on a rock face"),
                  ("underground lake", "subterranean pool"),
                  ("glass bridge", "transparent footbridge"),
                  ("sculpture park", "outdoor statue garden"),
                  ("lighthouse museum", "exhibition inside a beacon"),
                  ("tulip fields", "flower meadows of bulbs"),
                  ("Roman amphitheatre", "ancient arena"), ("cable car", "aerial tramway"),
                  ("windmills", "old grain mills turned by the breeze"),
                  ("observatory", "stargazing dome"), ("puppet theatre", "marionette playhouse"))
RIVERS = ("Olde", "Marrow", "Tessel", "Yarne", "Cobb", "Linnet", "Dwyr", "Saska", "Elm",
          "Quen", "Rive", "Tamber")
MONTHS = ("January", "March", "April", "May", "June", "July", "August", "September",
          "October", "December")
FESTIVALS = ("lantern", "cheese", "kite", "jazz", "harvest", "fireworks", "boat", "chestnut")
INDUSTRIES = ("salt mining", "glassmaking", "shipbuilding", "textile mills", "wine growing",
              "tourism", "software firms", "dairy farming", "paper mills", "fishing")

PLANT_GENERA = ("Marantha", "Calvera", "Pileon", "Aglossa", "Fittoria", "Scindra",
                "Peperella", "Hoyana", "Tradesca", "Monstra", "Zamiora", "Ctenara",
                "Dieffa", "Begonel", "Syngora", "Alocasta", "Philora", "Sanseva", "Oxalina",
                "Crassia")
PLANT_ADJ = ("Silver", "Red", "Golden", "Velvet", "Midnight", "Pink", "Lemon", "Emerald",
             "Ruby", "Snow")
PLANT_NOUN = ("Cloud", "Comet", "Queen", "Star", "Lace", "Dancer", "Flame", "Glow", "Wave",
              "Prince")
PLANT_HABITS = (("trailing", "hanging down from a basket"), ("upright", "growing straight up"),
                ("climbing", "vining up a support"),
                ("rosette-forming", "arranged in a circular cluster"),
                ("bushy", "dense and compact"), ("creeping", "spreading along the ground"))
PLANT_LEAVES = (("silver-striped", "grey-banded"), ("heart-shaped", "valentine-like"),
                ("purple-backed", "violet-undersided"), ("fenestrated", "holey, split"),
                ("velvety", "soft fuzzy"), ("wavy-edged", "rippled-margin"),
                ("spotted", "speckled"), ("fern-like", "feathery"), ("glossy", "shiny"),
                ("succulent", "fleshy water-storing"), ("cream-variegated", "white-splashed"),
                ("needle-thin", "threadlike"), ("coin-shaped", "disc-like"),
                ("arrow-shaped", "spear-pointed"), ("red-veined", "crimson-ribbed"),
                ("pleated", "folded like paper"), ("waxy", "candle-smooth"),
                ("button-sized", "miniature round"), ("strappy", "ribbon-like long"),
                ("pink-edged", "rose-rimmed"), ("lance-shaped", "long pointed"),
                ("crinkled", "wrinkly"), ("paddle-shaped", "oar-like"),
                ("bronze-tinted", "copper-sheened"))
LIGHT = ("bright indirect light", "full sun", "partial shade", "low light")
TOXICITY = ("toxic", "mildly toxic", "non-toxic")
PROPAGATION = ("stem cuttings rooted in water", "leaf cuttings", "division of the root ball",
               "offsets", "air layering", "seed")

#: Documents that are about an entity's facet without answering the question (grade 1).
RELATED = {
    ("drones", "flight_time"): "Firmware {ver} for the {name} added {delta} minutes of "
                               "flight time per battery.",
    ("drones", "range"): "Firmware {ver} improved the {name} radio link by {delta} percent.",
    ("services", "rate_limit"): "Load tests last quarter led to a higher request ceiling "
                                "for {name}.",
    ("services", "retention"): "A legal review asked {name} to shorten its data retention.",
    ("towns", "population"): "The population of {name} grew by {delta} percent in ten years.",
    ("towns", "festival"): "Tickets for the festival in {name} sell out early.",
    ("plants", "water"): "Watering too much is the most common reason {name} dies.",
    ("plants", "light"): "{name} leaves fade when the light is too strong.",
}
