"""The function library of the synthetic task: 40 tools, their parameters, and how people ask.

Each `Tool` is a JSON-schema function doc plus the language needed to write requests for it:
`intents` are request templates whose ``{param}`` slots take a phrase saying that parameter's
value; each `Param` knows how to draw a value and how to say it. Values appear in the request
exactly as they must appear in the call (strings are copied, numbers written in digits), except
enums and booleans, whose values are said in words the model must map ("in Fahrenheit" ->
``unit='fahrenheit'``, "nonstop" -> ``nonstop=True``). This is data, not logic: the generator is
`funcall.data.synthetic`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

POOLS: dict[str, list[str]] = {
    "city": ["Paris", "London", "Tokyo", "Berlin", "Madrid", "Rome", "Lisbon", "Oslo", "Cairo", "Lima",
             "Toronto", "Sydney", "Dublin", "Prague", "Vienna", "Seoul", "Mumbai", "Nairobi", "Denver",
             "Boston", "Chicago", "Austin", "Seattle", "Miami", "Zurich", "Athens", "Warsaw", "Hanoi",
             "Bogota", "Quito", "New York", "San Diego", "Los Angeles", "Hong Kong", "Cape Town"],
    "person": ["Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "Irene", "Jack",
               "Karen", "Liam", "Maya", "Noah", "Olivia", "Peter", "Quinn", "Rosa", "Sam", "Tara",
               "Uma", "Victor", "Wendy", "Xavier", "Yara", "Zoe"],
    "email": ["alice@example.com", "bob@mail.org", "carol.w@work.net", "dev-team@corp.io",
              "sales@shop.com", "jack99@inbox.net", "maya.k@uni.edu", "ops@service.io"],
    "language": ["French", "Spanish", "German", "Italian", "Japanese", "Korean", "Portuguese", "Dutch",
                 "Greek", "Polish", "Turkish", "Swahili"],
    "word": ["hello", "thank you", "good morning", "where is the station", "how much is this",
             "I love books", "see you soon", "the bill please", "happy birthday", "good night"],
    "product": ["laptop", "headphones", "coffee maker", "running shoes", "desk lamp", "backpack",
                "phone case", "water bottle", "keyboard", "monitor", "blender", "yoga mat", "tent"],
    "stock": ["AAPL", "MSFT", "GOOG", "AMZN", "TSLA", "NVDA", "META", "IBM", "ORCL", "INTC"],
    "currency": ["USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "INR", "BRL", "KRW"],
    "movie": ["Inception", "Arrival", "Heat", "Alien", "Up", "Coco", "Jaws", "Rocky", "Frozen", "Dune"],
    "artist": ["Adele", "Queen", "Drake", "Coldplay", "Metallica", "Beyonce", "Shakira", "Muse", "Abba"],
    "team": ["Lakers", "Celtics", "Yankees", "Arsenal", "Barcelona", "Juventus", "Bulls", "Warriors"],
    "dish": ["lasagna", "pancakes", "curry", "risotto", "tacos", "ramen", "paella", "goulash", "falafel"],
    "ingredient": ["tomato", "garlic", "chicken", "rice", "basil", "onion", "cheese", "lemon", "tofu",
                   "spinach", "mushroom", "egg"],
    "topic": ["science", "politics", "technology", "sports", "health", "travel", "finance", "music"],
    "tracking": ["1Z999AA1", "TRK48213", "PKG77120", "JD014600", "LX55910", "ZX30021"],
    "date": ["2025-01-15", "2025-03-02", "2025-04-20", "2025-06-11", "2025-07-04", "2025-08-30",
             "2025-09-09", "2025-10-31", "2025-11-27", "2025-12-24"],
    "time": ["07:30", "08:00", "09:15", "12:00", "13:45", "15:30", "18:00", "19:45", "21:00", "22:30"],
    "title": ["team sync", "dentist", "project review", "lunch with Sam", "yoga class", "budget call",
              "book club", "code review", "parent meeting"],
    "message": ["running late", "see you at noon", "the report is ready", "call me back",
                "meeting moved to Friday", "dinner is at eight", "happy new year"],
    "file": ["report.pdf", "notes.txt", "budget.xlsx", "photo.png", "slides.pptx", "data.csv"],
    "song": ["Yesterday", "Hello", "Imagine", "Believer", "Halo", "Thriller", "Wonderwall", "Hurt"],
    "company": ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell"],
    "tag": ["urgent", "work", "home", "travel", "family", "ideas", "later", "finance"],
    "symptom": ["headache", "fever", "cough", "back pain", "sore throat", "nausea", "fatigue"],
    "address": ["12 Oak Street", "5 Main Road", "48 Pine Avenue", "7 Hill Lane", "90 Lake Drive",
                "3 Bay Road", "21 Elm Court"],
}


@dataclass
class Param:
    """One parameter: its JSON-schema type, how its value is drawn, and how a request says it.

    ``say`` are phrase templates with ``{}`` for the spoken value. Enums map each value to the
    words that mean it (``words``); booleans use ``say_true`` / ``say_false`` instead of ``say``.
    """

    name: str
    type: str  # string | integer | number | boolean | array
    description: str
    say: list[str] = field(default_factory=lambda: ["{}"])
    required: bool = True
    pool: str | None = None
    lo: float = 1
    hi: float = 100
    enum: list[str] | None = None
    words: dict[str, list[str]] | None = None
    say_true: list[str] | None = None
    say_false: list[str] | None = None
    default: Any = None

    def schema(self) -> dict:
        spec: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.enum:
            spec["enum"] = list(self.enum)
        if self.type == "array":
            spec["items"] = {"type": "string"}
        if self.default is not None:
            spec["default"] = self.default
        return spec


@dataclass
class Tool:
    name: str
    domain: str
    description: str
    params: list[Param]
    intents: list[str]

    def doc(self) -> dict:
        """The function doc in the BFCL / JSON-schema shape the prompt and the checker use."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": {
                "type": "dict",
                "properties": {p.name: p.schema() for p in self.params},
                "required": [p.name for p in self.params if p.required],
            },
        }


def S(name, desc, pool, say=("{}",), required=True):  # noqa: N802 - a tiny constructor DSL
    return Param(name, "string", desc, list(say), required, pool=pool)


def I(name, desc, lo, hi, say=("{}",), required=True, default=None):  # noqa: N802,E743
    return Param(name, "integer", desc, list(say), required, lo=lo, hi=hi, default=default)


def N(name, desc, lo, hi, say=("{}",), required=True):  # noqa: N802
    return Param(name, "number", desc, list(say), required, lo=lo, hi=hi)


def E(name, desc, words, say=("{}",), required=False, default=None):  # noqa: N802
    return Param(name, "string", desc, list(say), required, enum=list(words), words=words, default=default)


def B(name, desc, say_true, say_false=(), required=False, default=None):  # noqa: N802
    return Param(name, "boolean", desc, [], required, say_true=list(say_true), say_false=list(say_false),
                 default=default)


def A(name, desc, pool, say=("{}",), required=True):  # noqa: N802
    return Param(name, "array", desc, list(say), required, pool=pool)


UNIT = E("unit", "Temperature unit.", {"celsius": ["Celsius", "degrees Celsius"],
                                       "fahrenheit": ["Fahrenheit", "degrees Fahrenheit"]},
         say=("in {}", "using {}"), default="celsius")

TOOLS: list[Tool] = [
    Tool("get_weather", "weather", "Get the current weather in a city.",
         [S("city", "City name.", "city", ("in {}", "for {}")), UNIT],
         ["What's the weather {city}", "Tell me the weather {city}", "How is the weather {city} right now",
          "Current conditions {city}"]),
    Tool("get_forecast", "weather", "Get a multi-day weather forecast for a city.",
         [S("city", "City name.", "city", ("for {}", "in {}")),
          I("days", "Number of days to forecast.", 1, 14, ("for the next {} days", "over {} days")), UNIT],
         ["Give me the forecast {city} {days}", "What will the weather be {city} {days}",
          "Forecast {city} {days}"]),
    Tool("get_air_quality", "weather", "Get the air quality index of a city.",
         [S("city", "City name.", "city", ("in {}", "for {}"))],
         ["How clean is the air {city}", "Check the air quality {city}", "What's the AQI {city}"]),
    Tool("book_flight", "travel", "Book a flight between two cities.",
         [S("origin", "Departure city.", "city", ("from {}",)),
          S("destination", "Arrival city.", "city", ("to {}",)),
          S("date", "Departure date, YYYY-MM-DD.", "date", ("on {}",)),
          I("passengers", "Number of passengers.", 1, 6, ("for {} passengers", "with {} seats"), False, 1),
          B("nonstop", "Only nonstop flights.", ["nonstop only", "with no layovers"], ["stops are fine"])],
         ["Book a flight {origin} {destination} {date}", "I need a flight {origin} {destination} {date}",
          "Get me on a plane {origin} {destination} {date}"]),
    Tool("search_hotels", "travel", "Search hotels in a city for a stay.",
         [S("city", "City name.", "city", ("in {}",)),
          I("nights", "Number of nights.", 1, 14, ("for {} nights",)),
          I("max_price", "Maximum price per night in USD.", 50, 500, ("under {} dollars a night",), False),
          B("breakfast", "Breakfast included.", ["with breakfast included", "breakfast included"])],
         ["Find me a hotel {city} {nights}", "Search hotels {city} {nights}", "I need a room {city} {nights}"]),
    Tool("rent_car", "travel", "Rent a car in a city.",
         [S("city", "Pickup city.", "city", ("in {}",)),
          I("days", "Rental length in days.", 1, 21, ("for {} days",)),
          E("car_type", "Car category.", {"compact": ["compact", "small"], "suv": ["SUV"],
                                          "van": ["van", "minivan"]}, ("a {} car", "type {}"))],
         ["Rent a car {city} {days}", "I want to hire a car {city} {days}", "Book a rental car {city} {days}"]),
    Tool("get_train_times", "travel", "List train departures between two cities.",
         [S("origin", "Departure city.", "city", ("from {}",)),
          S("destination", "Arrival city.", "city", ("to {}",)),
          S("time", "Earliest departure time, HH:MM.", "time", ("after {}",), False)],
         ["When are the trains {origin} {destination}", "Show train times {origin} {destination}",
          "List trains {origin} {destination}"]),
    Tool("convert_currency", "finance", "Convert an amount between currencies.",
         [N("amount", "Amount to convert.", 1, 5000, ("{}",)),
          S("from_currency", "Currency code to convert from.", "currency", ("{}",)),
          S("to_currency", "Currency code to convert to.", "currency", ("into {}", "to {}"))],
         ["Convert {amount} {from_currency} {to_currency}", "How much is {amount} {from_currency} {to_currency}",
          "Change {amount} {from_currency} {to_currency}"]),
    Tool("get_stock_price", "finance", "Get the latest price of a stock.",
         [S("symbol", "Ticker symbol.", "stock", ("of {}", "for {}")),
          B("after_hours", "Include after-hours trading.", ["including after-hours trading"])],
         ["What's the stock price {symbol}", "Quote {symbol}", "Show me the share price {symbol}"]),
    Tool("calculate_loan_payment", "finance", "Compute the monthly payment of a loan.",
         [N("principal", "Loan amount.", 1000, 90000, ("of {}", "for {}")),
          N("rate", "Annual interest rate in percent.", 1, 12, ("at {} percent",)),
          I("years", "Loan term in years.", 1, 30, ("over {} years",))],
         ["What's the monthly payment on a loan {principal} {rate} {years}",
          "Calculate a loan payment {principal} {rate} {years}"]),
    Tool("transfer_money", "finance", "Send money to a person.",
         [S("recipient", "Who receives the money.", "person", ("to {}",)),
          N("amount", "Amount in USD.", 1, 900, ("{} dollars",)),
          S("note", "A note for the recipient.", "message", ("with the note {}",), False)],
         ["Send {amount} {recipient}", "Transfer {amount} {recipient}", "Pay <recipient> {amount}"]),
    Tool("send_email", "communication", "Send an email.",
         [S("to", "Recipient address.", "email", ("to {}",)),
          S("subject", "Subject line.", "title", ("about {}", "with subject {}")),
          B("urgent", "Mark as urgent.", ["marked urgent", "as high priority"])],
         ["Email {to} {subject}", "Send an email {to} {subject}", "Write a mail {to} {subject}"]),
    Tool("send_text", "communication", "Send a text message to a contact.",
         [S("contact", "Contact name.", "person", ("to {}",)),
          S("message", "Message text.", "message", ("saying {}", "that says {}"))],
         ["Text {contact} {message}", "Send a message {contact} {message}", "Message {contact} {message}"]),
    Tool("make_call", "communication", "Start a phone call.",
         [S("contact", "Contact name.", "person", ("{}",)),
          B("video", "Start a video call.", ["on video", "as a video call"])],
         ["Call <contact>", "Phone <contact>", "Ring <contact>"]),
    Tool("set_alarm", "time", "Set an alarm.",
         [S("time", "Alarm time, HH:MM.", "time", ("for {}", "at {}")),
          S("label", "Alarm label.", "title", ("labelled {}", "named {}"), False),
          B("repeat_daily", "Repeat every day.", ["every day", "daily"])],
         ["Set an alarm {time}", "Wake me up {time}", "Alarm {time}"]),
    Tool("start_timer", "time", "Start a countdown timer.",
         [I("minutes", "Duration in minutes.", 1, 90, ("for {} minutes",)),
          S("label", "Timer label.", "dish", ("for the {}",), False)],
         ["Start a timer {minutes}", "Set a timer {minutes}", "Count down {minutes}"]),
    Tool("create_event", "calendar", "Create a calendar event.",
         [S("title", "Event title.", "title", ("called {}", "titled {}")),
          S("date", "Date, YYYY-MM-DD.", "date", ("on {}",)),
          S("time", "Start time, HH:MM.", "time", ("at {}",)),
          I("duration", "Length in minutes.", 15, 180, ("lasting {} minutes", "for {} minutes"), False, 60),
          A("attendees", "People to invite.", "person", ("with {}", "inviting {}"), False)],
         ["Create an event {title} {date} {time}", "Schedule a meeting {title} {date} {time}",
          "Put <title> on my calendar {date} {time}"]),
    Tool("list_events", "calendar", "List calendar events on a date.",
         [S("date", "Date, YYYY-MM-DD.", "date", ("on {}", "for {}"))],
         ["What's on my calendar {date}", "List my events {date}", "Show my schedule {date}"]),
    Tool("add_reminder", "calendar", "Add a reminder.",
         [S("text", "What to remember.", "message", ("to {}", "about {}")),
          S("date", "Date, YYYY-MM-DD.", "date", ("on {}",)),
          A("tags", "Tags for the reminder.", "tag", ("tagged {}",), False)],
         ["Remind me {text} {date}", "Add a reminder {text} {date}", "Create a reminder {text} {date}"]),
    Tool("play_music", "media", "Play music by an artist.",
         [S("artist", "Artist name.", "artist", ("by {}", "from {}")),
          B("shuffle", "Shuffle the tracks.", ["on shuffle", "shuffled"]),
          I("volume", "Volume from 0 to 100.", 10, 100, ("at volume {}",), False)],
         ["Play some music {artist}", "Put on songs {artist}", "I want to hear tracks {artist}"]),
    Tool("play_song", "media", "Play one song.",
         [S("title", "Song title.", "song", ("{}",)),
          S("artist", "Artist name.", "artist", ("by {}",), False)],
         ["Play the song <title>", "Put on <title>", "Start playing <title>"]),
    Tool("find_movie_showtimes", "media", "Find cinema showtimes of a movie.",
         [S("movie", "Movie title.", "movie", ("for {}", "of {}")),
          S("city", "City.", "city", ("in {}",)),
          S("date", "Date, YYYY-MM-DD.", "date", ("on {}",), False)],
         ["Find showtimes {movie} {city}", "When is <movie> playing {city}", "Movie times {movie} {city}"]),
    Tool("get_movie_rating", "media", "Get the rating of a movie.",
         [S("movie", "Movie title.", "movie", ("of {}", "for {}"))],
         ["What's the rating {movie}", "How good is the movie {movie}", "Get reviews {movie}"]),
    Tool("get_news", "media", "Get the latest news headlines.",
         [E("topic", "News topic.", {t: [t] for t in POOLS["topic"]}, ("about {}", "on {}"), required=True),
          I("limit", "How many headlines.", 1, 20, ("top {}", "the {} latest"), False, 5)],
         ["Give me news {topic}", "What's new {topic}", "Headlines {topic}"]),
    Tool("get_sports_score", "sports", "Get the latest score of a team.",
         [S("team", "Team name.", "team", ("of the {}", "for the {}"))],
         ["What was the score {team}", "Latest result {team}", "How did the game go {team}"]),
    Tool("get_team_schedule", "sports", "Get the upcoming games of a team.",
         [S("team", "Team name.", "team", ("of the {}", "for the {}")),
          I("games", "How many games.", 1, 10, ("next {} games", "for the next {} games"), False)],
         ["Show the schedule {team}", "When do they play next {team}", "Upcoming games {team}"]),
    Tool("find_recipe", "food", "Find a recipe for a dish.",
         [S("dish", "Dish name.", "dish", ("for {}",)),
          I("servings", "Number of servings.", 1, 12, ("for {} people", "serving {}"), False),
          B("vegetarian", "Vegetarian only.", ["vegetarian", "meat-free"])],
         ["Find a recipe {dish}", "How do I cook {dish}", "Give me a recipe {dish}"]),
    Tool("search_recipes_by_ingredients", "food", "Find recipes that use given ingredients.",
         [A("ingredients", "Ingredients to use.", "ingredient", ("with {}", "using {}")),
          I("max_minutes", "Maximum cooking time.", 10, 120, ("in under {} minutes",), False)],
         ["What can I cook {ingredients}", "Find recipes {ingredients}", "Suggest a meal {ingredients}"]),
    Tool("find_restaurant", "food", "Find restaurants in a city.",
         [S("city", "City.", "city", ("in {}",)),
          E("cuisine", "Cuisine.", {"italian": ["Italian"], "thai": ["Thai"], "mexican": ["Mexican"],
                                    "indian": ["Indian"], "japanese": ["Japanese"]}, ("serving {} food", "{}")),
          E("price", "Price level.", {"cheap": ["cheap", "budget"], "moderate": ["mid-range"],
                                      "expensive": ["fancy", "upscale"]}, ("{}",))],
         ["Find a restaurant {city}", "Where can I eat {city}", "Recommend a place to eat {city}"]),
    Tool("order_food", "food", "Order a dish for delivery.",
         [S("dish", "Dish name.", "dish", ("some {}", "{}")),
          I("quantity", "How many portions.", 1, 8, ("{} portions", "quantity {}"), False, 1),
          S("address", "Delivery address.", "address", ("to {}",))],
         ["Order {dish} {address}", "Get {dish} delivered {address}", "I'd like {dish} sent {address}"]),
    Tool("search_products", "shopping", "Search an online store.",
         [S("query", "What to search for.", "product", ("for a {}", "for {}")),
          N("max_price", "Maximum price.", 10, 900, ("under {} dollars", "below {}"), False),
          E("sort_by", "Sort order.", {"price": ["by price", "cheapest first"], "rating": ["by rating"],
                                       "newest": ["newest first"]}, ("sorted {}", "{}"))],
         ["Search the store {query}", "Look {query}", "Shop {query}"]),
    Tool("add_to_cart", "shopping", "Add a product to the cart.",
         [S("product", "Product name.", "product", ("a {}", "the {}")),
          I("quantity", "Quantity.", 1, 10, ("{} times", "x{}"), False, 1)],
         ["Add {product} to my cart", "Put {product} in the basket", "Buy {product}"]),
    Tool("track_package", "shopping", "Track a parcel.",
         [S("tracking_number", "Tracking number.", "tracking", ("{}", "number {}")),
          S("carrier", "Carrier.", "company", ("with {}", "shipped by {}"), False)],
         ["Where is my package <tracking_number>", "Track parcel <tracking_number>",
          "Status of shipment <tracking_number>"]),
    Tool("translate_text", "language", "Translate text into another language.",
         [S("text", "Text to translate.", "word", ("{}",)),
          S("target_language", "Target language.", "language", ("into {}", "to {}")),
          B("formal", "Use a formal register.", ["formally", "in a formal tone"])],
         ["Translate <text> {target_language}", "How do you say <text> {target_language}",
          "Put <text> {target_language}"]),
    Tool("define_word", "language", "Look up the definition of a word.",
         [S("word", "The word.", "ingredient", ("{}",)),
          S("language", "Dictionary language.", "language", ("in {}",), False)],
         ["Define <word>", "What does <word> mean", "Look up the word <word>"]),
    Tool("convert_units", "math", "Convert a quantity between units.",
         [N("value", "Quantity to convert.", 1, 500, ("{}",)),
          E("from_unit", "Unit to convert from.", {"km": ["km", "kilometers"], "mile": ["miles"],
                                                   "kg": ["kg", "kilograms"], "lb": ["pounds"]},
            ("{}",), required=True),
          E("to_unit", "Unit to convert to.", {"km": ["km", "kilometers"], "mile": ["miles"],
                                               "kg": ["kg", "kilograms"], "lb": ["pounds"]},
            ("to {}", "into {}"), required=True)],
         ["Convert {value} {from_unit} {to_unit}", "How much is {value} {from_unit} {to_unit}"]),
    Tool("calculate_tip", "math", "Compute a tip for a bill.",
         [N("bill", "Bill amount.", 5, 400, ("on {}", "for a {} bill")),
          I("percent", "Tip percentage.", 5, 30, ("at {} percent", "of {} percent"), False, 15),
          I("split", "Number of people splitting.", 1, 8, ("split {} ways",), False, 1)],
         ["Calculate the tip {bill}", "What's the tip {bill}", "How much should I tip {bill}"]),
    Tool("share_file", "files", "Share a file with a person.",
         [S("file", "File name.", "file", ("{}",)),
          S("email", "Recipient address.", "email", ("with {}",)),
          E("permission", "Access level.", {"view": ["view only", "read only"], "edit": ["edit access"]},
            ("with {}", "{}"), default="view")],
         ["Share <file> {email}", "Give access to <file> {email}", "Send <file> {email}"]),
    Tool("set_thermostat", "home", "Set the home thermostat.",
         [I("temperature", "Target temperature.", 15, 30, ("to {} degrees",)),
          E("room", "Room.", {"living_room": ["living room"], "bedroom": ["bedroom"], "kitchen": ["kitchen"],
                              "office": ["office"]}, ("in the {}",))],
         ["Set the thermostat {temperature}", "Make it {temperature}", "Heat the house {temperature}"]),
    Tool("book_doctor", "health", "Book a doctor's appointment.",
         [S("symptom", "Main symptom.", "symptom", ("for {}", "about my {}")),
          S("date", "Date, YYYY-MM-DD.", "date", ("on {}",)),
          B("telehealth", "Video visit.", ["as a video visit", "online"])],
         ["Book a doctor {symptom} {date}", "I need to see a doctor {symptom} {date}",
          "Make an appointment {symptom} {date}"]),
]

CHITCHAT = [
    "Tell me a joke", "How are you today", "What is the meaning of life", "Write a short poem about rain",
    "Who painted the Mona Lisa", "Thanks, that's all", "What's your favourite colour",
    "Explain what a black hole is", "Good morning!", "Can you recommend a good book",
]
