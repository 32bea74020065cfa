"""The scenarios of the multi-turn synthetic task: GorillaFileSystem and VehicleControlAPI pieces,
and the registry `SCENARIOS` that combines them with the app pieces (`funcall.data.multi_turn_apps`).

A `Scenario` is ``setup(rng) -> (classes, initial_config)`` and ``play(writer, rng)``, which writes
2-4 user turns by drawing intents until enough apply. The file system is a random tree (random
folder and file names, file contents made of drawn lines), the car a random state (fuel, doors,
climate, tyres). Where the obvious version would hard-code each task's calls, the file system
intents navigate from wherever the previous turn left the working directory (a mirror of the
tree is kept in ``writer.world``; ``cd`` goes one level at a time, as BFCL's does), and the values a
user does not say come from results: the folders in a ``find`` result, a file's last line from
``cat``, the unlocked doors from ``displayCarStatus``, zip codes and a distance.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from funcall.data import multi_turn_apps as apps
from funcall.data.multi_turn_writer import Redraw, TaskWriter
from funcall.data.multi_turn_writer import render_call as call

DIRS = ["notes", "drafts", "invoices", "photos_2023", "research", "backup", "recipes", "scripts", "letters", "clients",
        "taxes", "music_lists", "minutes", "specs", "archive_old", "travel", "garden"]
FILES = ["plan.txt", "todo.md", "summary.txt", "ledger.csv", "readme.md", "ideas.txt", "log_march.txt", "contacts.csv",
         "draft_v2.txt", "agenda.md", "inventory.txt", "quotes.txt", "changelog.md", "budget_q3.csv", "packing.txt"]
NEW_FILES = ["copy_notes.txt", "extract.txt", "last_line.txt", "digest.md", "clip.txt", "snippet.txt"]
LINES = ["order {n} shipped to {p}", "call {p} about the {w}", "total spent: {n} euros", "{p} approved the {w}",
         "meeting with {p} on day {n}", "check the {w} again", "{n} items left in stock", "remember the {w}",
         "{p} owes {n} for the {w}", "backup finished at {n} past nine"]
WORDS = ["invoice", "roof", "contract", "printer", "garden hose", "train tickets", "report", "heater", "lease", "drone"]
ROOTS = ["home_{p}", "{p}_files", "workspace_{n}", "{p}_docs", "projects_{n}"]


def _content(rng: random.Random) -> str:
    return "\n".join(rng.choice(LINES).format(n=rng.randint(2, 99), p=rng.choice(apps.PEOPLE), w=rng.choice(WORDS))
                     for _ in range(rng.randint(2, 5)))


# -- GorillaFileSystem ----------------------------------------------------------------------------
def fs_config(rng: random.Random) -> tuple[dict, dict]:
    """A random tree (names unique across it) and its mirror: path tuple -> {"dirs", "files"}."""
    dirs, files = rng.sample(DIRS, 5), rng.sample(FILES, 9)
    mirror: dict[tuple, dict] = {(): {"dirs": [], "files": {}}}
    places = [()]
    for name in dirs:
        parent = rng.choice([p for p in places if len(p) < 2])
        mirror[parent]["dirs"].append(name)
        mirror[parent + (name,)] = {"dirs": [], "files": {}}
        places.append(parent + (name,))
    for name in files:
        mirror[rng.choice(places)]["files"][name] = _content(rng)

    def tree(path: tuple) -> dict:
        node = mirror[path]
        contents = {f: {"type": "file", "content": c} for f, c in node["files"].items()}
        contents.update({d: tree(path + (d,)) for d in node["dirs"]})
        return {"type": "directory", "contents": contents}

    root = rng.choice(ROOTS).format(p=rng.choice(apps.PEOPLE).lower(), n=rng.randint(1, 99))
    return {"GorillaFileSystem": {"root": {root: tree(())}}}, {"tree": mirror, "cwd": ()}


def _goto(writer: TaskWriter, target: tuple, why: str) -> None:
    """cd from the working directory to ``target``, one level at a time (nothing if already there)."""
    w = writer.world["fs"]
    cwd = w["cwd"]
    common = 0
    while common < min(len(cwd), len(target)) and cwd[common] == target[common]:
        common += 1
    calls = [call("cd", folder="..")] * (len(cwd) - common) + [call("cd", folder=d) for d in target[common:]]
    if calls:
        writer.step(why, *calls)
        w["cwd"] = target


def _where(path: tuple) -> str:
    return "the top folder" if not path else "the " + "/".join(path) + " folder"


def _pick_file(writer: TaskWriter, rng: random.Random) -> tuple[tuple, str] | None:
    found = [(p, f) for p, node in writer.world["fs"]["tree"].items() for f in node["files"]]
    return rng.choice(found) if found else None


def f_find(writer: TaskWriter, rng: random.Random) -> bool:
    """Find a file by name from the top folder, go where the result says, count or show it."""
    w = writer.world["fs"]
    path, name = _pick_file(writer, rng)
    if not path or w["cwd"]:
        return False
    mode, said = rng.choice([("l", "lines"), ("w", "words"), ("c", "characters")])
    writer.user([f"There's a file called {name} somewhere in here; find it and tell me how many {said} it has",
             f"Locate {name} and count its {said}", f"Where is {name}? Go there and give me its {said} count"])
    writer.step(f"I don't know where {name} is, so I search for it.", call("find", path=".", name=name))
    _goto(writer, path, f"find says it is in {'/'.join(path)}; I go there.")
    writer.step(f"Now I count the {said}.", call("wc", file_name=name, mode=mode))
    return True


def f_read_act(writer: TaskWriter, rng: random.Random) -> bool:
    """Read a file, then write a line of it to a new file, tweet it or message it."""
    path, name = _pick_file(writer, rng)
    node = writer.world["fs"]["tree"][path]
    which = rng.choice(["first", "last"])
    target = "twitter" if "twitter" in writer.world and writer.world["twitter"]["in"] and rng.random() < 0.5 else "file"
    new = rng.choice([f for f in NEW_FILES if f not in node["files"]])
    where = "" if path == writer.world["fs"]["cwd"] else f"in {_where(path)}, "
    line = f"the {which} line of {name}"
    if target == "file":
        texts = [f"{where}read {name} and put its {which} line into a new file {new}",
                 f"{where}copy {line} into a fresh file named {new}"]
    else:
        texts = [f"{where}open {name} and tweet its {which} line", f"{where}post {line} on Twitter"]
    writer.user([t[0].upper() + t[1:] for t in texts])
    _goto(writer, path, f"{name} is in {'/'.join(path) or 'the top folder'}; I go there.")
    content = writer.step(f"I read {name} to get its {which} line.", call("cat", file_name=name))[0]["file_content"]
    lines = content.split("\n")
    text = lines[0] if which == "first" else lines[-1]
    if target == "file":
        writer.step(f"The {which} line is '{text}'; I create {new} and write it.", call("touch", file_name=new),
                call("echo", content=text, file_name=new))
        node["files"][new] = text
    else:
        tw = writer.world["twitter"]
        tweet = writer.step(f"The {which} line is '{text}'; I tweet it.", call("post_tweet", content=text, tags=[], mentions=[]))[0]
        tw["last"], tw["tweets"][str(tweet["id"])] = tweet["id"], tweet
    return True


def f_edit(writer: TaskWriter, rng: random.Random) -> bool:
    """Make a folder and move a file into it, copy, grep, sort, tail or diff in the working folder
    (or in a named one, navigating there)."""
    w = writer.world["fs"]
    path, name = _pick_file(writer, rng)
    node = w["tree"][path]
    where = "" if path == w["cwd"] else f"In {_where(path)}, "
    pick = rng.choice(["mkdir_mv", "grep", "sort", "tail", "diff"])
    vague = None
    if pick == "mkdir_mv":
        new = rng.choice([d for d in DIRS if all(d not in n["dirs"] for n in w["tree"].values())])
        texts = [f"{where}make a folder named {new} and move {name} into it", f"{where}create a directory {new}, then put {name} in it"]
        vague = ([f"{where}make a new folder and move {name} into it", f"{where}put {name} into a new directory"],
                 [f"Name the folder {new}", f"Call it {new}"], "What should the new folder be called?")
    elif pick == "grep":
        word = rng.choice(node["files"][name].split("\n")).split()[-1]
        texts = [f"{where}search {name} for '{word}'", f"{where}which lines of {name} contain '{word}'?"]
        vague = ([f"{where}search for the lines that contain '{word}'", f"{where}grep for '{word}'"],
                 [f"The file is {name}", f"Search {name}"], "Which file should I search?")
    elif pick == "sort":
        texts = [f"{where}sort the lines of {name}", f"{where}show me {name} sorted line by line"]
    elif pick == "tail":
        k = rng.randint(1, 3)
        texts = [f"{where}show the last {k} lines of {name}", f"{where}what are the final {k} lines in {name}?"]
    else:
        others = [f for f in node["files"] if f != name]
        if not others:
            return False
        other = rng.choice(others)
        texts = [f"{where}compare {name} with {other}", f"{where}what's the difference between {name} and {other}?"]
    fix = lambda ts: [t[0].upper() + t[1:] for t in ts]  # noqa: E731
    writer.user(fix(texts), vague=(fix(vague[0]), vague[1], vague[2]) if vague else None)
    _goto(writer, path, f"{name} is in {'/'.join(path) or 'the top folder'}; I go there first.")
    if pick == "mkdir_mv":
        writer.step(f"Folder {new}, file {name}.", call("mkdir", dir_name=new), call("mv", source=name, destination=new))
        node["dirs"].append(new)
        w["tree"][path + (new,)] = {"dirs": [], "files": {name: node["files"].pop(name)}}
    elif pick == "grep":
        writer.step(f"File {name}, pattern '{word}'.", call("grep", file_name=name, pattern=word))
    elif pick == "sort":
        writer.step(f"Sorting {name}.", call("sort", file_name=name))
    elif pick == "tail":
        writer.step(f"The last {k} lines of {name}.", call("tail", file_name=name, lines=k))
    else:
        writer.step(f"Comparing {name} and {other}.", call("diff", file_name1=name, file_name2=other))
    return True


# -- VehicleControlAPI ----------------------------------------------------------------------------
DOORS = ["driver", "passenger", "rear_left", "rear_right"]
ZIPS = {"Rivermist": "83214", "Stonebrook": "74532", "Maplecrest": "56108", "Silverpine": "62947", "Shadowridge": "71354",
        "Sunset Valley": "83462", "Oakendale": "47329", "Willowbend": "52013", "Crescent Hollow": "69238",
        "Autumnville": "51479", "San Francisco": "94016"}
TRIPS = [("Rivermist", "Stonebrook"), ("Maplecrest", "Silverpine"), ("Shadowridge", "Sunset Valley"), ("Oakendale", "Willowbend"),
         ("Crescent Hollow", "Autumnville"), ("San Francisco", "Rivermist"), ("San Francisco", "Silverpine"),
         ("Stonebrook", "San Francisco")]
STREETS = ["14 Heron Way", "201 Quarry Road", "9 Lantern Court", "77 Birchwood Lane", "3 Copper Street", "58 Orchard Row"]
STATES = ["CA", "OR", "NV", "AZ", "WA", "CO"]


def vehicle_config(rng: random.Random) -> tuple[dict, dict]:
    doors = {d: rng.choice(["locked", "unlocked"]) for d in DOORS}
    low = rng.random() < 0.4
    tyres = {k: float(rng.randint(24, 28) if low else rng.randint(30, 35)) for k in
             ("frontLeftTirePressure", "frontRightTirePressure", "rearLeftTirePressure", "rearRightTirePressure")}
    config = {"random_seed": rng.randint(1, 10**6), "fuelLevel": round(rng.uniform(3, 40), 1),
              "batteryVoltage": round(rng.uniform(11.8, 13.4), 1), "engineState": "stopped", "doorStatus": doors,
              "acTemperature": float(rng.randint(16, 29)), "fanSpeed": rng.randrange(0, 101, 10),
              "acMode": rng.choice(["auto", "cool", "heat"]), "humidityLevel": float(rng.randint(30, 70)),
              "headLightStatus": rng.choice(["on", "off"]), "parkingBrakeStatus": "released", "brakePedalStatus": "released",
              "distanceToNextVehicle": float(rng.randint(20, 90)), "cruiseStatus": "inactive", "destination": "None", **tyres}
    return {"VehicleControlAPI": config}, {"fuel": config["fuelLevel"], "doors": dict(doors), "running": False,
                                           "low_tyres": low, "distance": None}


def v_start(writer: TaskWriter, rng: random.Random) -> bool:
    w = writer.world["car"]
    if w["running"]:
        return False
    writer.user(["Get the car started", "Start the engine for me", "I'm ready to go, start the car", "Fire up the engine"])
    doors = writer.step("The engine starts only with every door locked; I check the doors first.",
                    call("displayCarStatus", option="doors"))[0]["doorStatus"]
    unlocked = [d for d, s in doors.items() if s == "unlocked"]
    calls = ([call("lockDoors", unlock=False, door=unlocked)] if unlocked else []) + [
        call("pressBrakePedal", pedalPosition=1.0), call("startEngine", ignitionMode="START")]
    writer.step(f"Unlocked: {unlocked or 'none'}; I lock them, press the brake fully and start.", *calls)
    w["running"] = True
    return True


def v_fuel(writer: TaskWriter, rng: random.Random) -> bool:
    w = writer.world["car"]
    room = 50 - w["fuel"]
    if room < 2:
        return False
    if rng.random() < 0.4:
        liters = rng.randint(2, int(room * 3.7))
        writer.user([f"Put {liters} liters of fuel in the tank", f"Add {liters} litres of gas"])
        gallons = writer.step(f"fillFuelTank takes gallons, so I convert {liters} liters first.",
                          call("liter_to_gallon", liter=liters))[0]["gallon"]
        amount = gallons
    else:
        amount = rng.randint(1, int(room))
        writer.user([f"Add {amount} gallons of fuel", f"Fill {amount} gallons into the tank", f"Top up the tank with {amount} gallons"],
                vague=(["Put some fuel in the car", "The tank needs gas, add some"], [f"{amount} gallons", f"Add {amount} gallons"],
                       "How many gallons should I add?"))
    writer.step(f"Adding {amount} gallons.", call("fillFuelTank", fuelAmount=amount))
    w["fuel"] += amount
    return True


def v_misc(writer: TaskWriter, rng: random.Random) -> bool:
    """Climate, headlights, navigation, a trip's distance (zip codes looked up), its feasibility
    (the distance from the earlier turn), tyres (and the tyre shop when they are low)."""
    w = writer.world["car"]
    pick = rng.choice(["climate", "lights", "nav", "trip", "tyres"] + (["feasible"] * 2 if w["distance"] else []))
    if pick == "climate":
        t, unit, fan = rng.randint(16, 28), "celsius", rng.randrange(10, 101, 10)
        if rng.random() < 0.3:
            t, unit = rng.randint(60, 82), "fahrenheit"
        writer.user([f"Set the AC to {t} degrees {unit} with the fan at {fan}", f"Make it {t} degrees {unit} inside, fan speed {fan}"],
                vague=([f"Turn on the air conditioning with the fan at {fan}", f"Set the fan to {fan} and adjust the temperature"],
                       [f"{t} degrees {unit}", f"Make it {t} degrees {unit}"], "What temperature would you like?"))
        writer.step(f"temperature={t}, unit={unit}, fanSpeed={fan}.", call("adjustClimateControl", temperature=float(t), unit=unit, fanSpeed=fan))
    elif pick == "lights":
        mode = rng.choice(["on", "off"])
        writer.user([f"Turn the headlights {mode}", f"Switch {mode} the headlights"])
        writer.step(f"Headlights mode {mode}.", call("setHeadlights", mode=mode))
    elif pick == "nav":
        dest = f"{rng.choice(STREETS)}, {rng.choice(list(ZIPS))}, {rng.choice(STATES)}"
        writer.user([f"Navigate to {dest}", f"Set the GPS for {dest}"],
                vague=(["Start the navigation", "Set up the GPS for me"], [f"Go to {dest}", f"The address is {dest}"], "Where should I navigate to?"))
        writer.step(f"Destination {dest}.", call("set_navigation", destination=dest))
    elif pick == "trip":
        a, b = rng.choice(TRIPS)
        a, b = (a, b) if rng.random() < 0.5 else (b, a)
        writer.user([f"How far is it from {a} to {b}?", f"What's the distance between {a} and {b}?"])
        za, zb = (r["zipcode"] for r in writer.step("estimate_distance takes zip codes; I look both up.",
                                                call("get_zipcode_based_on_city", city=a), call("get_zipcode_based_on_city", city=b)))
        w["distance"] = writer.step(f"{a} is {za}, {b} is {zb}.", call("estimate_distance", cityA=za, cityB=zb))[0]["distance"]
    elif pick == "feasible":
        writer.user(["Can the car make that trip on the fuel it has?", "Is there enough gas to drive that distance?"])
        writer.step(f"The distance found earlier is {w['distance']}.", call("estimate_drive_feasibility_by_mileage", distance=w["distance"]))
        w["distance"] = None
    else:
        writer.user(["Check the tire pressure, and if it's low take me to the nearest tire shop",
                 "Are my tyres okay? If not, navigate to a tire shop"])
        writer.step("First the pressure.", call("check_tire_pressure"))
        if w["low_tyres"]:
            shop = writer.step("The pressure is not healthy, so I find a shop.", call("find_nearest_tire_shop"))[0]["shopLocation"]
            writer.step(f"The nearest shop is at {shop}.", call("set_navigation", destination=shop))
    return True


# -- the registry ---------------------------------------------------------------------------------
Intent = Callable[[TaskWriter, random.Random], bool]


@dataclass(frozen=True)
class Scenario:
    """``setup(rng) -> (classes, config, world)``; `play` writes the turns."""

    setup: Callable[[random.Random], tuple[list[str], dict, dict]]
    openers: tuple[Intent, ...]  # tried first, in order (logins); each applies at most once
    intents: tuple[Intent, ...]  # drawn at random until the episode has its turns
    closer: Intent | None = None  # tried last (a turn that carries a result into another class)

    def play(self, writer: TaskWriter, rng: random.Random) -> None:
        wanted = rng.randint(2, 4)
        for opener in self.openers:
            if len(writer.turns) < wanted - 1:
                opener(writer, rng)
        closing = self.closer is not None and rng.random() < 0.6
        for _ in range(30):
            if len(writer.turns) >= wanted - closing:
                break
            rng.choice(self.intents)(writer, rng)
        if closing:
            self.closer(writer, rng)
        if len(writer.turns) < 2:
            raise Redraw("too few turns")


def _setup_files(rng: random.Random) -> tuple[list[str], dict, dict]:
    config, fs = fs_config(rng)
    world = {"fs": fs}
    if rng.random() < 0.4:
        tw_config, world["twitter"] = apps.twitter_config(rng, logged_in=True)
        return ["GorillaFileSystem", "TwitterAPI"], {**config, "TwitterAPI": tw_config}, world
    return ["GorillaFileSystem"], config, world


def _setup_car(rng: random.Random) -> tuple[list[str], dict, dict]:
    config, car = vehicle_config(rng)
    world = {"car": car}
    if rng.random() < 0.35:
        msg_config, world["msg"] = apps.message_config(rng, logged_in=True)
        return ["VehicleControlAPI", "MessageAPI"], {**config, "MessageAPI": msg_config}, world
    return ["VehicleControlAPI"], config, world


def _one(name: str, make: Callable) -> Callable[[random.Random], tuple[list[str], dict, dict]]:
    key = {"MessageAPI": "msg", "TicketAPI": "ticket", "TwitterAPI": "twitter"}[name]

    def setup(rng: random.Random) -> tuple[list[str], dict, dict]:
        config, world = make(rng, logged_in=rng.random() < 0.4)
        return [name], {name: config}, {key: world}
    return setup


def _setup_math(rng: random.Random) -> tuple[list[str], dict, dict]:
    if rng.random() < 0.5:
        config, world = apps.message_config(rng, logged_in=True)
        return ["MathAPI", "MessageAPI"], {"MessageAPI": config}, {"msg": world}
    config, world = apps.twitter_config(rng, logged_in=True)
    return ["MathAPI", "TwitterAPI"], {"TwitterAPI": config}, {"twitter": world}


def _send_distance(writer: TaskWriter, rng: random.Random) -> bool:
    distance = writer.world["car"]["distance"]
    return distance is not None and "msg" in writer.world and apps.m_send(writer, rng, text=f"The trip is {distance} km", what="that distance")


def _share_result(writer: TaskWriter, rng: random.Random) -> bool:
    last = writer.world.get("math", {}).get("last")
    if last is None:
        return False
    text = f"The result is {last}"
    if "msg" in writer.world:
        return apps.m_send(writer, rng, text=text, what="the result")
    return apps.tw_post(writer, rng, content=text, what="the result")


SCENARIOS: dict[str, Scenario] = {
    "files": Scenario(_setup_files, (), (f_find, f_read_act, f_edit, f_edit)),
    "car": Scenario(_setup_car, (), (v_start, v_fuel, v_misc, v_misc, v_misc), closer=_send_distance),
    "messages": Scenario(_one("MessageAPI", apps.message_config), (apps.m_login,), (apps.m_send, apps.m_send, apps.m_other)),
    "tickets": Scenario(_one("TicketAPI", apps.ticket_config), (apps.t_login,), (apps.t_create, apps.t_act, apps.t_act)),
    "twitter": Scenario(_one("TwitterAPI", apps.twitter_config), (apps.tw_login,), (apps.tw_post, apps.tw_other, apps.tw_other)),
    "math": Scenario(_setup_math, (apps.math_first,), (apps.math_next,), closer=_share_result),
}
WEIGHTS = {"files": 0.25, "car": 0.2, "messages": 0.15, "tickets": 0.15, "twitter": 0.1, "math": 0.15}


def draw_scenario(rng: random.Random) -> str:
    return rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
