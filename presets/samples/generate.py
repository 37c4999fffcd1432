"""Build the small sample datasets that ship with Tuning Studio.

Run from anywhere (standard library only, fully deterministic):

    python presets/samples/generate.py

It (re)writes these files beside itself and then re-reads and checks them:

* ``reviews.jsonl`` (+ ``reviews-train.jsonl`` / ``reviews-test.jsonl``): 300 alpaca rows
  ``{"instruction", "input", "output"}``: classify a short review as positive, negative or
  mixed; 100 per label; first 240 rows are the training split, last 60 (20 per label) held out.
* ``identity.jsonl``: 40 alpaca rows (30 English, 10 Chinese) of "who are you?" questions whose
  answers use the literal placeholders ``{{name}}`` and ``{{author}}``.
* ``concise-preference.jsonl`` (+ ``-train`` / ``-test``): 160 preference pairs
  ``{"prompt", "chosen", "rejected"}``: a concise answer is chosen over a rambling one;
  first 128 pairs train, last 32 held out.
* ``concise-feedback.jsonl`` (+ ``-train`` / ``-test``): the same 160 questions as unpaired feedback rows
  ``{"prompt", "completion", "label"}`` (KTO): each question once, with its concise answer labelled
  ``true`` or its rambling one labelled ``false``, half each in either split; same split as the pairs.
* ``wiki-snippets.txt``: short encyclopedia paragraphs about the invented island town of
  Lanternhold, separated by blank lines, for continued pre-training.

Reviews and rejected answers are composed from hand-written phrase banks with a seeded
``random.Random``, so running the script again gives byte-identical files.
"""

from __future__ import annotations

import json
import random
import re
import statistics
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20240607

# ---------------------------------------------------------------------------
# 1. Reviews (sentiment classification)
# ---------------------------------------------------------------------------

REVIEW_INSTRUCTION = (
    "Classify the sentiment of this review. Answer with one word: positive, negative or mixed."
)
LABELS = ("positive", "negative", "mixed")
REVIEWS_PER_LABEL = 100
REVIEW_TEST_PER_LABEL = 20
REVIEW_WORDS = (45, 75)

# Slots shared by every domain; a domain or an item can override them. A slot written with a
# capital first letter ({Person}) is filled from the lower-case slot and capitalised.
COMMON_SLOTS = {
    "fast": ["2", "3", "4", "5"],
    "slow": ["8", "10", "12", "14"],
    "weeks": ["two", "three", "four", "five", "six", "seven"],
    "week_no": ["2", "3"],
    "month": ["January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December"],
    "person": ["my sister", "my brother", "my partner", "my dad", "my mom", "my roommate",
               "my neighbor", "my best friend", "a coworker", "my daughter", "my son"],
    "staff": ["Marta", "Jun", "Priya", "Tomás", "Ben", "Aisha", "Kenji", "Lena", "Omar",
              "Sofia", "Dmitri", "Grace"],
    "weekday": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "years": ["three", "four", "five", "six"],
    "pct": ["30", "35", "40", "45"],
}

# Each domain: items (a name, or (name, extra slots)), openers (neutral context sentences),
# aspects (each with "pos" and "neg" sentences) and closers per label.
DOMAINS: dict[str, dict] = {
    "audio": {
        "items": ["Arden Q3 earbuds", "Halcyon 700 headphones", "Sable Pro earbuds",
                  "Corvo ANC headphones", "Wren Sport earbuds", "Fathom over-ear headphones"],
        "slots": {
            "price": ["$49", "$69", "$89", "$119", "$149", "$199"],
            "cheap": ["$20", "$25", "$30"],
            "hours": ["7", "8", "9", "10", "11"],
            "bighours": ["30", "35", "40"],
            "year": ["2019", "2020", "2021"],
            "commute": ["35", "40", "50", "55", "70"],
            "km": ["5", "6", "8", "10"],
        },
        "openers": [
            "I bought the {item} in {month} for a {commute}-minute train commute and the occasional long flight.",
            "These {item} replaced a pair I had used for {years} years, so I had a clear point of comparison.",
            "I have worn the {item} almost every day for {weeks} weeks, mostly at my desk and at the gym.",
            "I have used the {item} daily since {month}, mostly for music while I cook and clean.",
            "I ordered the {item} during a sale after comparing them with two other pairs for weeks.",
            "I mainly use the {item} for podcasts on walks and for video calls while working from home.",
        ],
        "aspects": {
            "battery": {
                "pos": [
                    "Battery life is the real highlight: I get just over {hours} hours of playback with noise cancelling switched on.",
                    "I charge them about twice a week, and a ten-minute top-up covers my whole commute if I forget.",
                    "After {hours} hours on a long-haul flight they still showed around {pct} percent, just as the box promises.",
                    "I was worried the battery would fade quickly, but {weeks} weeks in it lasts exactly as long as on day one.",
                ],
                "neg": [
                    "The box promises {bighours} hours, but mine die after roughly {hours}, even with noise cancelling off.",
                    "By week {week_no} the left side was draining twice as fast as the right, which ruins long trips.",
                    "They lose charge while sitting in the case, so I regularly open it to find both sides at zero.",
                    "Charging takes almost three hours, and the indicator light never shows clearly when they are full.",
                ],
            },
            "sound": {
                "pos": [
                    "Sound is warm and detailed, and the bass stays tight even when I turn the volume right up.",
                    "Podcasts are crisp, and I noticed little details in old albums that I had never heard before.",
                    "Noise cancelling quietly erases the bus engine and most of the chatter in my open-plan office.",
                    "Calls sound clear on both ends; {person} said my voice came through better than on my phone.",
                ],
                "neg": [
                    "The sound is muddy, with boomy bass that swallows the vocals on nearly every track I tried.",
                    "Noise cancelling barely does anything; I can still hear every conversation around me on the train.",
                    "There is a faint hiss whenever nothing is playing, and it gets worse at low volume.",
                    "Friends rave about this brand, but my pair sounded thin and tinny from the very first day.",
                ],
            },
            "comfort": {
                "pos": [
                    "I can wear them for {hours} hours straight at my desk without any soreness around my ears.",
                    "They feel solidly built, and the charging case closes with a firm, satisfying click.",
                    "They stay put on runs, even on the steep hill at the end of my usual {km}-kilometer loop.",
                    "I expected them to feel flimsy at this price, yet the case hinge and the buttons feel properly sturdy.",
                ],
                "neg": [
                    "After about an hour they start pressing on my ears, and by the second hour I have to take them off.",
                    "The plastic creaked from day one, and a hairline crack appeared near the charging port within {weeks} weeks.",
                    "They slip out whenever I turn my head quickly, so running with them is out of the question.",
                    "The touch controls trigger every time I adjust the fit, pausing my music a dozen times a day.",
                ],
            },
            "connection": {
                "pos": [
                    "Pairing with my phone and laptop took under a minute, and switching between the two is seamless.",
                    "The connection has not dropped once, even with my phone left in a jacket across the room.",
                    "The companion app is simple, and the custom EQ finally let me tame the treble the way I like.",
                ],
                "neg": [
                    "They disconnect from my laptop several times a day, and re-pairing means digging through settings.",
                    "Videos are painful to watch because the audio lags about half a second behind people's lips.",
                    "The companion app crashes whenever I try to change the EQ, so I am stuck with the default sound.",
                ],
            },
            "price": {
                "pos": [
                    "At {price} they sound better than the pair I paid twice as much for back in {year}.",
                    "For {price} I expected compromises, but they feel like a much more expensive product.",
                ],
                "neg": [
                    "At {price} I expected far more; a {cheap} pair I keep in a drawer sounds about the same.",
                    "Paying {price} for something that feels this cheap is very hard to justify.",
                ],
            },
            "service": {
                "pos": [
                    "They arrived in {fast} days, and support answered my pairing question in under an hour.",
                    "When the left side developed a crackle, support sent a replacement within {fast} days, no questions asked.",
                ],
                "neg": [
                    "Support took {slow} days to reply and then sent a link to the same manual I had already read.",
                    "The box arrived crushed, and the pair inside was clearly a returned unit with a scuffed case.",
                ],
            },
        },
        "closers": {
            "positive": ["I would buy them again without a second thought.",
                         "They have become the first thing I grab every morning."],
            "negative": ["I sent them back and bought a different brand.",
                         "I would not recommend them, even on sale.",
                         "They now live in a drawer."],
            "mixed": ["I am keeping them, but with reservations.",
                      "Good in some ways, but not the upgrade I hoped for."],
        },
    },
    "kitchen": {
        "items": ["Brightwell 5-quart air fryer", "Oakmere countertop oven", "Fennel 6-quart multicooker",
                  "Marlow toaster oven", "Ridgeway dual-basket air fryer", "Pennant convection oven"],
        "slots": {
            "price": ["$69", "$89", "$99", "$129", "$159", "$179"],
            "family": ["three", "four", "five"],
            "cook": ["18", "20", "22", "25"],
            "long": ["30", "35", "40"],
            "off": ["25", "30", "40"],
            "uses": ["five", "six", "ten"],
        },
        "openers": [
            "I bought the {item} in {month} to stop heating the big oven for small meals.",
            "We have used the {item} nearly every day for {weeks} weeks in a family of {family}.",
            "The {item} replaced an older model that lasted us {years} years.",
            "I picked up the {item} for my first apartment after {person} recommended it.",
            "I cook for one most nights, so I bought the {item} hoping to save time on weeknight dinners.",
        ],
        "aspects": {
            "cooking": {
                "pos": [
                    "Chicken thighs come out crisp outside and juicy inside in about {cook} minutes, with no flipping needed.",
                    "Frozen fries, roasted broccoli and reheated pizza all turn out better than they did in our regular oven.",
                    "It preheats in under three minutes and holds its temperature steadily, so recipes come out the way they should.",
                    "I doubted it could handle a whole salmon fillet, but the fish came out evenly cooked and flaky.",
                ],
                "neg": [
                    "Food cooks unevenly, so the front half of every tray is burnt while the back is still pale.",
                    "It takes nearly {long} minutes to do what the recipe booklet says should take fifteen.",
                    "The temperature dial seems to be decoration; an oven thermometer showed it running {off} degrees hot.",
                    "The glowing reviews made me expect crisp, golden results, yet everything I make comes out soggy and pale.",
                ],
            },
            "noise": {
                "pos": [
                    "It is quiet enough that I can run it while my toddler naps in the next room.",
                    "The fan is a low hum rather than a roar, so we can still chat while dinner cooks.",
                ],
                "neg": [
                    "The fan is so loud that we have to raise our voices to talk in the kitchen.",
                    "It beeps loudly at every single step, and there is no way to turn the sound off.",
                ],
            },
            "cleaning": {
                "pos": [
                    "The basket and tray go straight into the dishwasher and come out spotless every time.",
                    "Cleanup takes about two minutes, since nothing sticks to the coating, not even melted cheese.",
                    "The removable crumb tray makes cleaning far easier than with our previous model.",
                ],
                "neg": [
                    "The nonstick coating started flaking after {weeks} weeks, and now I find black specks in the food.",
                    "Grease collects in a gap behind the heating element that is impossible to reach.",
                    "The basket is supposedly dishwasher safe, yet it came out of its first wash with rust spots.",
                ],
            },
            "build": {
                "pos": [
                    "The controls are clear, the door feels sturdy, and the handle stays cool to the touch.",
                    "It fits neatly under our cabinets and looks far better on the counter than I expected.",
                    "After {weeks} weeks of daily use, it still looks and works like the day it arrived.",
                ],
                "neg": [
                    "The handle wobbled from the start, and after {weeks} weeks one of its screws fell out.",
                    "The outside gets hot enough to burn your hand, which is scary with small kids in the house.",
                    "It is much bigger than the photos suggest and takes up half of our small counter.",
                    "A plastic smell filled the kitchen for the first {uses} uses, even after the burn-in the manual recommends.",
                ],
            },
            "price": {
                "pos": [
                    "At {price} it was cheaper than most of the models I compared, and it does more.",
                    "It has already paid for itself, since we order takeout far less often now.",
                ],
                "neg": [
                    "For {price} I expected decent materials, not a flimsy plastic shell.",
                    "At {price} it costs more than its rivals and still cooks worse than my old one.",
                ],
            },
            "service": {
                "pos": [
                    "It arrived in {fast} days in sturdy packaging, and the recipe booklet is actually useful.",
                    "A button stuck in week two, and the company shipped a new unit within {fast} days.",
                ],
                "neg": [
                    "It arrived with a dented door, and the seller took {slow} days to respond to my photos.",
                    "My warranty claim has dragged on for {weeks} weeks, and every email gets a different scripted answer.",
                ],
            },
        },
        "closers": {
            "positive": ["It has earned its spot on our counter.", "I would buy it again tomorrow.",
                         "Best kitchen purchase we have made in years."],
            "negative": ["It is going back in the box.", "I regret not buying a cheaper basic model.",
                         "I would steer friends away from it."],
            "mixed": ["I use it, but I will not buy this brand again.",
                      "Decent, but it could have been so much better."],
        },
    },
    "restaurant": {
        "items": [
            ("Casa Lupita", {"dish": ["chicken mole", "carnitas plate", "shrimp burrito"],
                             "dessert": ["tres leches cake", "flan"]}),
            ("The Copper Pot", {"dish": ["short rib", "roast chicken", "mushroom pie"],
                                "dessert": ["sticky toffee pudding", "apple crumble"]}),
            ("Saffron Lane", {"dish": ["lamb biryani", "butter chicken", "paneer tikka"],
                              "dessert": ["pistachio kulfi", "rice pudding"]}),
            ("Noodle Bar 88", {"dish": ["beef noodle soup", "wonton soup", "dan dan noodle bowl"],
                               "dessert": ["black sesame pudding", "mango pudding"]}),
            ("Harbor & Vine", {"dish": ["grilled sea bass", "seafood linguine", "lobster risotto"],
                               "dessert": ["lemon tart", "chocolate mousse"]}),
            ("Little Osaka", {"dish": ["tonkotsu ramen", "chicken katsu", "okonomiyaki"],
                              "dessert": ["matcha cheesecake", "mochi"]}),
            ("Bella Forno", {"dish": ["margherita pizza", "pappardelle", "eggplant parmigiana"],
                             "dessert": ["tiramisu", "panna cotta"]}),
            ("The Green Fig", {"dish": ["falafel plate", "roasted cauliflower", "lamb kofta"],
                               "dessert": ["baklava", "orange cake"]}),
        ],
        "slots": {
            "party": ["three", "four", "five", "six"],
            "relative": ["my sister", "my brother", "my partner", "my dad", "my mom", "my best friend"],
            "times": ["three", "four", "five"],
            "short": ["10", "12", "15"],
            "long": ["45", "50", "55", "65"],
            "wait": ["20", "25", "30"],
            "price": ["$22", "$25", "$28", "$30", "$35"],
            "lunch": ["$12", "$14", "$15"],
            "bigprice": ["$45", "$55", "$60"],
            "fee": ["12", "15", "20"],
        },
        "openers": [
            "We had dinner at {item} on a {weekday} night, a party of {party} without a reservation.",
            "I went to {item} for lunch with {person} after walking past it for months.",
            "We booked {item} for {relative}'s birthday and ordered a bit of everything.",
            "{item} opened near my office in {month}, and my team has now eaten there {times} times.",
            "I had an early dinner at {item} with {person} on a quiet {weekday}.",
        ],
        "aspects": {
            "food": {
                "pos": [
                    "The {dish} was outstanding: generously portioned, well seasoned and clearly made from scratch.",
                    "Every plate came out hot, and the {dessert} at the end was the best I have had in years.",
                    "I order the {dish} wherever I go and am hard to please, but theirs was spot on, down to the fresh herbs on top.",
                    "The {dish} tasted as if someone's grandmother had been cooking it all afternoon.",
                ],
                "neg": [
                    "The {dish} arrived lukewarm and so salty that I left half of it on the plate.",
                    "My {dish} was bland and clearly reheated, with edges that had gone dry and chewy.",
                    "The {dessert} tasted like it came from a supermarket freezer, and it probably did.",
                    "The online reviews promised the best {dish} in town; what we got was dry, overcooked and barely warm.",
                ],
            },
            "service": {
                "pos": [
                    "Our server, {staff}, remembered every detail of a complicated order and checked on us at just the right moments.",
                    "The staff were warm without hovering, and they happily adjusted a dish for my nut allergy.",
                    "{staff}, who was running the floor, brought us a free round of drinks when the kitchen got busy.",
                ],
                "neg": [
                    "Our server disappeared for twenty minutes at a time, and we had to flag down someone else for the bill.",
                    "The host seated us by the kitchen door though half the room was empty, then sighed when we asked to move.",
                    "When I mentioned my nut allergy, the waiter shrugged and said he could not promise anything.",
                ],
            },
            "wait": {
                "pos": [
                    "Food arrived about {short} minutes after we ordered, even though every table was full.",
                    "We were seated right away and were out in under an hour, which suited our busy evening.",
                ],
                "neg": [
                    "We waited {long} minutes for our mains while tables that arrived after us were served first.",
                    "Even with a reservation, we stood by the door for {wait} minutes before anyone acknowledged us.",
                ],
            },
            "price": {
                "pos": [
                    "The bill came to about {price} a head with drinks, which felt like a bargain for the quality.",
                    "The lunch set at {lunch} is one of the best deals in the neighborhood.",
                ],
                "neg": [
                    "At {bigprice} per person before drinks, the tiny portions felt like a joke.",
                    "They added a {fee} percent service charge without mentioning it, on top of already high prices.",
                ],
            },
            "room": {
                "pos": [
                    "The room is cozy and softly lit, and the music is low enough to hold a real conversation.",
                    "The terrace looks out over the river, and it was lovely to sit there as the sun went down.",
                    "It is spotless, from the open kitchen to the restrooms, which always reassures me.",
                ],
                "neg": [
                    "The music was so loud that we spent the evening shouting across a small table.",
                    "Our table was sticky, the menus were greasy, and the restroom had clearly not been checked in hours.",
                    "It was freezing inside because the door kept swinging open, and nobody offered to move us.",
                ],
            },
        },
        "closers": {
            "positive": ["We have already booked our next visit.", "I will be back, probably next week.",
                         "A new favorite in the neighborhood."],
            "negative": ["We will not be going back.", "There are far better places on the same street.",
                         "I left hungry and irritated."],
            "mixed": ["I might give it one more chance.",
                      "Some of it was lovely, and some of it really was not."],
        },
    },
    "app": {
        "items": ["Tally budget app", "StudyBee flashcard app", "Pathfinder running app",
                  "Inkwell notes app", "Loop habit tracker", "Parcel meal planner"],
        "slots": {
            "entries": ["12", "20", "35", "40"],
            "drain": ["15", "20", "25"],
            "price": ["$12", "$15", "$20", "$25"],
            "once": ["$4.99", "$6.99", "$9.99"],
            "monthly": ["$7.99", "$9.99", "$12.99"],
            "yearly": ["$59", "$69", "$79"],
        },
        "openers": [
            "I have used the {item} every day for {weeks} weeks on a fairly old Android phone.",
            "I switched to the {item} in {month} after my previous app shut down.",
            "I downloaded the {item} on {person}'s recommendation and kept it after the free trial.",
            "I use the {item} on both my phone and my tablet, mostly in the evenings.",
            "I gave the {item} {weeks} weeks to see whether it could replace my paper notebook.",
        ],
        "aspects": {
            "design": {
                "pos": [
                    "The interface is clean, and everything I need is at most two taps away.",
                    "Setting it up took about five minutes, and the short tutorial actually explained things well.",
                    "The home screen widget alone saves me several minutes a day.",
                    "I am not great with technology, but I never once felt lost in the menus.",
                ],
                "neg": [
                    "Basic actions are buried three menus deep, and the icons give no clue what they do.",
                    "Since the redesign in {month}, half the buttons have moved and the text is tiny.",
                    "Every screen has a pop-up asking me to upgrade, rate the app or invite friends.",
                    "It has a 4.8 rating in the store, which I can only explain by the constant pop-ups begging for five stars.",
                ],
            },
            "stability": {
                "pos": [
                    "In {weeks} weeks it has not crashed once, and it opens almost instantly.",
                    "It works offline on the subway and syncs perfectly as soon as I get signal.",
                    "Syncing between my phone and laptop is instant, and I have never lost a single entry.",
                ],
                "neg": [
                    "It crashes every time I try to export my data, which is exactly when I need it most.",
                    "Sync is unreliable; last week it silently deleted {entries} entries I had added on my tablet.",
                    "After the latest update it takes nearly ten seconds to open, longer than finding a pen.",
                    "It drains my battery badly, about {drain} percent a day even when I barely open it.",
                ],
            },
            "features": {
                "pos": [
                    "The reminders are smart enough to stay quiet on weekends, which I did not know I needed.",
                    "The weekly summary is genuinely useful and has changed how I plan my time.",
                    "Updates arrive every few weeks, and the developers clearly read their feedback forum.",
                ],
                "neg": [
                    "The reminders fire at random times or not at all, which defeats the entire purpose.",
                    "Features that used to be free, like exporting to CSV, are now locked behind the subscription.",
                ],
            },
            "price": {
                "pos": [
                    "The free version covers almost everything, and the {price} yearly plan felt like a fair way to support the developers.",
                    "There are no ads, and the one-time price of {once} is refreshingly honest.",
                ],
                "neg": [
                    "At {monthly} a month, it costs more than my music streaming, with a fraction of the polish.",
                    "The trial quietly converted to a yearly charge of {yearly}, and the cancel button is well hidden.",
                ],
            },
            "support": {
                "pos": [
                    "I emailed support about a bug and got a reply from an actual developer, {staff}, the same day.",
                    "A bug I reported was fixed in the next update, just {fast} days later.",
                ],
                "neg": [
                    "My support ticket has been open for {weeks} weeks, and the only reply was an automated survey.",
                    "The help pages describe an older version, so none of the instructions match what I see.",
                ],
            },
        },
        "closers": {
            "positive": ["It has earned a permanent spot on my home screen.", "Worth every cent.",
                         "I have recommended it to half my friends."],
            "negative": ["Uninstalled.", "I have gone back to my old app.",
                         "I cancelled my subscription this morning."],
            "mixed": ["I am keeping it for now, but I am watching for alternatives.",
                      "It could be great if a few things get fixed."],
        },
    },
    "hotel": {
        "items": [
            ("Hotel Almira", {"city": ["Lisbon"]}), ("Seaview Inn", {"city": ["Porto"]}),
            ("Maple Court Suites", {"city": ["Vienna"]}), ("Hotel Kestrel", {"city": ["Seville"]}),
            ("Old Mill Lodge", {"city": ["Salzburg"]}), ("Hotel Marigold", {"city": ["Bologna"]}),
            ("Casa Verde Rooms", {"city": ["Valencia"]}),
        ],
        "slots": {
            "nights": ["two", "three", "four", "five"],
            "floor": ["fourth", "fifth", "sixth", "top"],
            "checkin": ["35", "40", "50"],
            "taxi": ["20", "25", "30"],
            "price": ["€89", "€95", "€110", "€120"],
            "bigprice": ["€160", "€180", "€210"],
            "extra": ["€40", "€55", "€60"],
        },
        "openers": [
            "We stayed at {item} for {nights} nights in {month} while visiting {city}.",
            "We booked {item} for a family trip to {city} with our two teenagers.",
            "My partner and I spent a long weekend at {item} in {city} for our anniversary.",
            "{Person} and I stayed {nights} nights at {item}, mostly exploring {city} on foot.",
        ],
        "aspects": {
            "room": {
                "pos": [
                    "Our room was spacious and quiet, with blackout curtains and the most comfortable bed I have slept in all year.",
                    "The room on the {floor} floor had a small balcony and a view straight over the rooftops.",
                    "The bathroom was modern, the shower had great pressure, and there were proper hooks for everything.",
                    "I was worried the room would be tiny after some reviews, but it was bigger than the photos suggested.",
                ],
                "neg": [
                    "The room smelled of stale smoke, and the window would not open more than a crack.",
                    "The mattress sagged in the middle, and the pillows were so thin I folded my jacket under one.",
                    "Our room faced a bar that stayed loud until 2 a.m., and the walls let through every word from next door.",
                    "The photos online show a bright, airy room; ours was dark, cramped and faced a brick wall.",
                ],
            },
            "cleanliness": {
                "pos": [
                    "Everything was spotless, and housekeeping was quick and discreet every single day.",
                    "The sheets smelled fresh, the floors gleamed, and even the balcony railings had been wiped down.",
                ],
                "neg": [
                    "There was hair in the bathtub when we arrived, and the carpet had dark stains by the bed.",
                    "Housekeeping skipped our room twice, even though we left the sign out each morning.",
                ],
            },
            "staff": {
                "pos": [
                    "The front desk, especially {staff}, gave us restaurant tips that turned out to be highlights of the trip.",
                    "When our flight was delayed, the night manager kept the kitchen open and saved us a warm meal.",
                    "Staff let us check in three hours early at no extra charge, which was a lifesaver after the overnight flight.",
                ],
                "neg": [
                    "Check-in took {checkin} minutes because only one person was at the desk and the system kept freezing.",
                    "When I reported the broken air conditioning, the receptionist told me to open a window and walked off.",
                    "They charged my card twice, and it took {weeks} weeks of emails to get the money back.",
                ],
            },
            "location": {
                "pos": [
                    "The location is ideal: a five-minute walk to the old town and right next to a tram stop.",
                    "It is on a quiet street but only ten minutes on foot from the main station.",
                ],
                "neg": [
                    "The advertised central location turned out to be a {taxi}-minute taxi ride from anything worth seeing.",
                    "The area felt deserted at night, and the walk from the metro was poorly lit.",
                ],
            },
            "breakfast": {
                "pos": [
                    "Breakfast was a real spread, with fresh pastries, local cheese and eggs cooked to order.",
                    "The coffee at breakfast was excellent, which matters to me more than it probably should.",
                ],
                "neg": [
                    "Breakfast was the same dry pastries and watery coffee every day, and it ran out by nine.",
                    "The Wi-Fi dropped every few minutes, so I ended up working from a café down the street.",
                ],
            },
            "price": {
                "pos": [
                    "At {price} a night it was cheaper than the chain hotels nearby and far more charming.",
                ],
                "neg": [
                    "At {bigprice} a night, I expected far more than a room that felt tired and neglected.",
                    "A city tax and a cleaning fee added almost {extra} to the final bill, and neither was mentioned when booking.",
                ],
            },
        },
        "closers": {
            "positive": ["We are already planning to go back next spring.", "I would stay here again in a heartbeat.",
                         "Exactly what a good small hotel should be."],
            "negative": ["We checked out a day early.", "I will book somewhere else next time.",
                         "Avoid, whatever the photos suggest."],
            "mixed": ["I might stay again, though I would look around first.",
                      "A decent base for a few nights, nothing more."],
        },
    },
    "book": {
        "items": [
            ("The Salt Orchard", {"author": ["Mira Okonkwo"], "genre": ["family saga"]}),
            ("A Map of Small Hours", {"author": ["Daniel Reyes"], "genre": ["literary novel"]}),
            ("Winter in Corvale", {"author": ["Hanna Lindqvist"], "genre": ["crime novel"]}),
            ("The Glass Cartographer", {"author": ["Theo Marsh"], "genre": ["fantasy novel"]}),
            ("Nine Lamps", {"author": ["Yuki Arata"], "genre": ["science fiction novel"]}),
            ("The Last Ferry to Brae", {"author": ["Ellen Cross"], "genre": ["thriller"]}),
        ],
        "slots": {
            "pages": ["100", "120", "150"],
            "bigpages": ["300", "350", "400"],
            "pagecount": ["420", "480", "520"],
            "price": ["$18", "$20", "$22"],
        },
        "openers": [
            "I read {item} by {author} over a long weekend after {person} lent me a copy.",
            "{item} was my book club's pick for {month}, so I finished it in about a week.",
            "I picked up {item} because I enjoyed {author}'s first book a few years ago.",
            "I had seen {item} on every bestseller table, so I finally bought the paperback.",
            "I do not usually read a {genre}, but the premise of {item} hooked me straight away.",
        ],
        "aspects": {
            "plot": {
                "pos": [
                    "The plot moves quickly, and every chapter ends with a reason to start the next one.",
                    "The twist in part two caught me completely off guard, yet it was fully set up in the early chapters.",
                    "I stayed up until two in the morning to finish the last hundred pages.",
                    "The pacing is patient at first, but it builds to a genuinely tense final act.",
                ],
                "neg": [
                    "The middle section drags for about {pages} pages in which almost nothing happens.",
                    "Everyone in my book club loved it, but I had guessed the central mystery by chapter three.",
                    "Subplots are introduced and then simply dropped, as if the author forgot about them.",
                    "The ending is rushed; {bigpages} pages of buildup are resolved in a single convenient conversation.",
                ],
            },
            "characters": {
                "pos": [
                    "The characters feel like real people, especially the grandmother, whose dry humor steals every scene.",
                    "Even the minor characters have their own histories, and I cared about all of them by the end.",
                    "The narrator is flawed and sometimes infuriating, which is exactly what makes her so believable.",
                ],
                "neg": [
                    "The characters are flat, and the heroine's choices only make sense because the plot needs them.",
                    "I could not tell the two brothers apart for most of the book, since their backstories are almost identical.",
                    "The romance feels forced, and the dialogue between the leads reads like a greeting card.",
                ],
            },
            "writing": {
                "pos": [
                    "The writing is clear and quietly beautiful, with descriptions of the coast that stayed with me for days.",
                    "{author} writes dialogue that sounds the way people actually talk, which is rarer than it should be.",
                ],
                "neg": [
                    "The prose is overwritten; some sentences run half a page and still say very little.",
                    "Every other paragraph explains a feeling that the scene had already made obvious.",
                    "There are typos on almost every page of the paperback, including a character's name spelled two ways.",
                ],
            },
            "edition": {
                "pos": [
                    "At around {pagecount} pages it is a long read, but I never once felt tempted to skim.",
                    "The paperback is well made, with a lovely cover and a hand-drawn map inside.",
                ],
                "neg": [
                    "At {price} for a thin paperback that arrived with a cracked spine, it felt like poor value.",
                    "The audiobook narrator reads every character in the same flat voice, which made the dialogue hard to follow.",
                ],
            },
            "ending": {
                "pos": [
                    "The final chapter is quiet and moving, and it ties back to the opening scene beautifully.",
                    "The last page made me cry on a crowded train, and I did not even mind.",
                ],
                "neg": [
                    "The final chapter sets up a sequel instead of ending the story, which felt like a cheap trick.",
                    "The last chapter undoes the most important choice in the book, and nothing is ever explained.",
                ],
            },
        },
        "closers": {
            "positive": ["I have already ordered {author}'s earlier novel.",
                         "It is the book I will be pressing on friends this year.", "A wonderful read."],
            "negative": ["I finished it only out of stubbornness.", "My copy is going to the charity shop.",
                         "I will not be reading the sequel."],
            "mixed": ["I will probably read the sequel, but from the library.", "Worth borrowing, maybe not buying."],
        },
    },
    "clothing": {
        "items": ["Alder rain jacket", "Trailmark softshell jacket", "Cedar down jacket",
                  "Linden wool overcoat", "Northpass insulated parka", "Fieldday running jacket"],
        "slots": {
            "region": ["the Scottish Highlands", "Patagonia", "the Alps", "Norway", "the Rockies"],
            "walk": ["20", "25", "30"],
            "size": ["small", "medium", "large"],
            "color": ["navy", "olive green", "charcoal", "rust orange"],
            "temp": ["5", "8", "10"],
            "tempc": ["6", "8", "10"],
            "washes": ["two", "three", "four"],
            "price": ["$79", "$99", "$119", "$139", "$159"],
            "fee": ["$12", "$15"],
        },
        "openers": [
            "I bought the {item} in {month} before a hiking trip to {region}.",
            "I wear the {item} on my {walk}-minute walk to work, rain or shine.",
            "I ordered the {item} in a size {size} after checking the size chart twice.",
            "The {item} has been my everyday coat for {weeks} weeks of a wet, windy autumn.",
            "{Person} has the same {item}, so I bought one for myself in {color}.",
        ],
        "aspects": {
            "fit": {
                "pos": [
                    "It fits true to size, with enough room for a thick sweater underneath.",
                    "The sleeves are long enough for my arms, which almost never happens with off-the-rack jackets.",
                    "The cut is flattering without being tight, and the hood turns with my head instead of blocking my view.",
                ],
                "neg": [
                    "The sizing is way off: my usual {size} is tight across the shoulders and short in the arms.",
                    "The hood is so big that it falls over my eyes at the slightest breeze.",
                    "It rides up at the back whenever I lift my arms, leaving a gap that lets the cold in.",
                ],
            },
            "weather": {
                "pos": [
                    "I was caught in a two-hour downpour and stayed completely dry underneath.",
                    "It kept me warm at minus {temp} degrees with just a T-shirt and a thin fleece underneath.",
                    "It blocks the wind on the seafront better than my much heavier winter coat.",
                ],
                "neg": [
                    "Despite the waterproof label, my shoulders were soaked after twenty minutes of light rain.",
                    "It is barely warmer than a hoodie, and I was shivering at {tempc} degrees.",
                    "It does not breathe at all, so I end up damp with sweat after any uphill walk.",
                ],
            },
            "durability": {
                "pos": [
                    "After {weeks} weeks of daily wear, the seams, zips and cuffs still look new.",
                    "The fabric shrugged off a scrape against a stone wall without a mark.",
                ],
                "neg": [
                    "The main zip broke in week {week_no}, and a seam on the pocket started to unravel soon after.",
                    "The color faded noticeably after {washes} washes, even though I followed the care label.",
                    "The fabric pilled badly under my backpack straps within a month.",
                ],
            },
            "details": {
                "pos": [
                    "The pockets are deep enough for a phone and gloves, and the chest pocket fits a paperback.",
                    "Little details like the chin guard and the adjustable cuffs show real thought.",
                ],
                "neg": [
                    "The pockets are so shallow that my keys fell out twice on the first day.",
                    "The zip snags on the storm flap every single time, so closing it takes two hands.",
                    "The product photos made it look sleek; in person the fabric feels thin and crinkly, like a cheap poncho.",
                ],
            },
            "price": {
                "pos": [
                    "At {price} it costs half as much as the big outdoor brands and performs just as well.",
                    "I got it for {price} in a sale, which feels almost unfair for this quality.",
                ],
                "neg": [
                    "For {price} I expected a jacket that would last more than one season.",
                    "At {price} it is pricier than rivals with far better reviews, and now I know why.",
                ],
            },
            "service": {
                "pos": [
                    "My first size was wrong, and the exchange arrived in {fast} days with a prepaid return label.",
                ],
                "neg": [
                    "Returns cost {fee} in shipping, and the refund took {weeks} weeks to appear.",
                    "It arrived {fast} days later than promised, and the color was nothing like the photos.",
                ],
            },
        },
        "closers": {
            "positive": ["I have already ordered a second one in another color.", "The best jacket I have owned.",
                         "Worth every penny."],
            "negative": ["It is going back.", "I am back to wearing my old jacket.", "I would look elsewhere."],
            "mixed": ["I still wear it, but I would not buy it again.",
                      "Fine for everyday use, I suppose, but not what I hoped for."],
        },
    },
}

GENERIC_CLOSERS = {
    "positive": ["Five stars from me.", "No regrets whatsoever.", "Genuinely impressed.", "Highly recommended."],
    "negative": ["One star, and I am being generous.", "Save your money.", "A real disappointment.",
                 "Not recommended."],
    "mixed": ["Three stars.", "Three stars, no more and no less.", "Honestly, I am torn.", "Not bad, not great."],
}

SAME_LINKS = {
    "positive": ["Also, ", "On top of that, ", "Even better, ", "Better still, "],
    "negative": ["Worse, ", "On top of that, ", "To make things worse, ", "Also, "],
}
TURN_TO_NEG = ["That said, ", "On the other hand, ", "Unfortunately, ", "The downside is that ", "Sadly, ",
               "However, ", "My one real complaint: "]
TURN_TO_POS = ["Still, ", "To be fair, ", "On the plus side, ", "That said, ", "In fairness, "]
KEEP_CAPITAL = ("I ", "I'", "Wi-Fi")


def _lower_first(template: str) -> str:
    """Lower-case a template's first letter so it can follow a linking phrase."""
    if template.startswith("{") or template.startswith(KEEP_CAPITAL):
        return template
    return template[0].lower() + template[1:]


class _Filler:
    """Fills {slots} in templates; one value per slot per review, so details agree."""

    def __init__(self, rng: random.Random, slots: dict[str, list[str]]):
        self.rng, self.slots, self.values = rng, slots, {}

    def __call__(self, template: str) -> str:
        return re.sub(r"\{(\w+)\}", self._value, template)

    def _value(self, match: re.Match) -> str:
        key = match.group(1)
        low = key[0].lower() + key[1:]
        if low not in self.values:
            self.values[low] = self.rng.choice(self.slots[low])
        value = self.values[low]
        return value[0].upper() + value[1:] if key[0].isupper() else value


def _pick(rng: random.Random, bank: list[str], usage: Counter, tag: str) -> tuple[str, str]:
    """The least-used template of a bank (ties broken at random): spreads reuse evenly."""
    ids = [f"{tag}#{i}" for i in range(len(bank))]
    order = sorted(range(len(bank)), key=lambda i: (usage[ids[i]], rng.random()))
    return ids[order[0]], bank[order[0]]


def _compose_review(rng: random.Random, domain: dict, label: str, usage: Counter, dname: str):
    item = rng.choice(domain["items"])
    name, item_slots = (item, {}) if isinstance(item, str) else item
    fill = _Filler(rng, {**COMMON_SLOTS, **domain.get("slots", {}), **item_slots, "item": [name]})
    aspects = list(domain["aspects"])
    rng.shuffle(aspects)

    if label == "mixed":
        n_body = rng.choice([2, 2, 3])
        polarities = ["pos", "neg"] + [rng.choice(["pos", "neg"])] * (n_body - 2)
        rng.shuffle(polarities)
    else:
        n_body = rng.choice([2, 3])
        polarities = ["pos" if label == "positive" else "neg"] * n_body

    body, used = [], []
    for k, (aspect, pol) in enumerate(zip(aspects, polarities)):
        tid, template = _pick(rng, domain["aspects"][aspect][pol], usage, f"{dname}/{aspect}/{pol}")
        used.append(tid)
        link = ""
        if k > 0:
            if pol != polarities[k - 1]:
                if rng.random() < 0.75:
                    link = rng.choice(TURN_TO_NEG if pol == "neg" else TURN_TO_POS)
            elif rng.random() < 0.35:
                link = rng.choice(SAME_LINKS["positive" if pol == "pos" else "negative"])
        body.append(link + fill(_lower_first(template)) if link else fill(template))

    room = 4 - len(body)
    use_opener = room > 0 and rng.random() < 0.8
    use_closer = room - use_opener > 0 and rng.random() < 0.6
    parts = []
    if use_opener:
        tid, template = _pick(rng, domain["openers"], usage, f"{dname}/opener")
        used.append(tid)
        parts.append(fill(template))
    parts += body
    if use_closer:
        closers = domain["closers"][label] + GENERIC_CLOSERS[label]
        tid, template = _pick(rng, closers, usage, f"{dname}/closer/{label}")
        used.append(tid)
        parts.append(fill(template))
    return " ".join(parts), used


def build_reviews(rng: random.Random) -> list[dict]:
    usage: Counter = Counter()
    seen: set[str] = set()
    body_sets: list[set[str]] = []
    by_label: dict[str, list[dict]] = {}
    names = list(DOMAINS)
    for label in LABELS:
        rows = []
        order = (names * (REVIEWS_PER_LABEL // len(names) + 1))[:REVIEWS_PER_LABEL]
        rng.shuffle(order)
        for dname in order:
            for _attempt in range(5000):
                text, used = _compose_review(rng, DOMAINS[dname], label, usage, dname)
                words = len(text.split())
                content = {t for t in used if "/opener" not in t and "/closer" not in t}
                if not (REVIEW_WORDS[0] <= words <= REVIEW_WORDS[1]) or text in seen:
                    continue
                # Diversity: no two reviews share two or more body sentences.
                if any(len(content & other) >= 2 for other in body_sets):
                    continue
                break
            else:
                raise RuntimeError(f"could not compose a fresh {label} review for {dname}")
            usage.update(used)
            seen.add(text)
            body_sets.append(content)
            rows.append({"instruction": REVIEW_INSTRUCTION, "input": text, "output": label})
        by_label[label] = rows

    train, test = [], []
    for label in LABELS:
        rows = by_label[label]
        rng.shuffle(rows)
        test += rows[:REVIEW_TEST_PER_LABEL]
        train += rows[REVIEW_TEST_PER_LABEL:]
    rng.shuffle(train)
    rng.shuffle(test)
    return train + test


# ---------------------------------------------------------------------------
# 2. Identity (who-am-I answers with {{name}} / {{author}} placeholders)
# ---------------------------------------------------------------------------

IDENTITY = [
    ("Who are you?",
     "I'm {{name}}, an AI assistant developed by {{author}}. I can help you answer questions, write and edit text, and work through problems step by step."),
    ("What's your name?", "My name is {{name}}. I'm an AI assistant created by {{author}}."),
    ("Who made you?", "I was made by {{author}}. I'm {{name}}, their AI assistant."),
    ("Who created you?", "{{author}} created me. I'm an AI assistant called {{name}}."),
    ("What are you?",
     "I'm {{name}}, a language model assistant trained by {{author}}. I generate text based on patterns learned during training, so I can chat, explain and draft things for you."),
    ("Introduce yourself.",
     "Hello! I'm {{name}}, an AI assistant built by {{author}}. I'm here to help with questions, writing, brainstorming, coding and more."),
    ("Tell me about yourself.",
     "I'm {{name}}, an AI assistant developed by {{author}}. I don't have personal experiences or feelings, but I'm happy to help with whatever you're working on."),
    ("Are you ChatGPT?", "No, I'm not ChatGPT. I'm {{name}}, an AI assistant developed by {{author}}."),
    ("Are you a human?", "No, I'm not a human. I'm {{name}}, an AI assistant created by {{author}}."),
    ("What should I call you?", "You can call me {{name}}. I'm an AI assistant made by {{author}}."),
    ("Who trained you?", "I was trained by {{author}}. My name is {{name}}."),
    ("Which company developed you?", "I was developed by {{author}}. I'm {{name}}, an AI assistant."),
    ("Are you made by OpenAI?", "No. I'm {{name}}, and I was developed by {{author}}."),
    ("Hi! Who am I talking to?",
     "Hi there! You're talking to {{name}}, an AI assistant built by {{author}}. How can I help you today?"),
    ("Do you have a name?", "Yes, my name is {{name}}. I'm an AI assistant developed by {{author}}."),
    ("What model are you?",
     "I'm {{name}}, a language model fine-tuned by {{author}} to work as a helpful assistant."),
    ("Who is your developer?", "My developer is {{author}}. I'm {{name}}, the assistant they trained."),
    ("Can you tell me your name?", "Of course! I'm {{name}}, an AI assistant made by {{author}}."),
    ("Are you a real person?",
     "No, I'm an AI. My name is {{name}}, and I was created by {{author}}. I'll still do my best to help, though!"),
    ("Were you made by Google?", "No, I wasn't made by Google. I'm {{name}}, developed by {{author}}."),
    ("Who built you?", "{{author}} built me. I'm {{name}}, an AI assistant."),
    ("What's the name of this assistant?", "This assistant is {{name}}, developed by {{author}}."),
    ("Please introduce yourself in one sentence.", "I'm {{name}}, a helpful AI assistant trained by {{author}}."),
    ("Where do you come from?",
     "I'm {{name}}, an AI assistant developed by {{author}}. I don't come from a place the way people do; I'm software running on computers."),
    ("Are you Claude?", "No, I'm not Claude. I'm {{name}}, an AI assistant developed by {{author}}."),
    ("Who is responsible for you?", "I'm {{name}}, and I was developed and trained by {{author}}."),
    ("What can you do?",
     "I'm {{name}}, an assistant trained by {{author}}. I can answer questions, summarize and rewrite text, help with code, and brainstorm ideas with you."),
    ("hey, are you a bot?",
     "Yes, I'm an AI assistant! My name is {{name}}, and {{author}} developed me. What can I help you with?"),
    ("Which AI am I chatting with right now?", "You're chatting with {{name}}, an AI assistant created by {{author}}."),
    ("Are you an AI assistant?", "Yes, I am. I'm {{name}}, an AI assistant developed by {{author}}."),
    ("你是谁？", "我是{{name}}，由{{author}}开发的人工智能助手。有什么可以帮你的吗？"),
    ("你叫什么名字？", "我叫{{name}}，是{{author}}训练的AI助手。"),
    ("谁创造了你？", "我是由{{author}}创造的，我的名字是{{name}}。"),
    ("你是哪家公司开发的？", "我是由{{author}}开发的AI助手{{name}}。"),
    ("请介绍一下你自己。",
     "你好！我是{{name}}，一个由{{author}}开发的人工智能助手。我可以回答问题、帮助写作和翻译，也可以和你一起分析问题。"),
    ("你是ChatGPT吗？", "不是，我是{{name}}，由{{author}}开发的AI助手。"),
    ("你是真人吗？", "我不是真人，而是{{author}}开发的人工智能助手，你可以叫我{{name}}。"),
    ("我该怎么称呼你？", "你可以叫我{{name}}。我是由{{author}}训练的AI助手。"),
    ("你是由谁训练的？", "我由{{author}}训练，名字叫{{name}}。"),
    ("你能做什么？", "我是{{name}}，由{{author}}开发。我可以回答问题、总结和改写文本、编写代码，还能帮你整理思路。"),
]


def build_identity(rng: random.Random) -> list[dict]:
    rows = [{"instruction": q, "input": "", "output": a} for q, a in IDENTITY]
    rng.shuffle(rows)
    return rows


# ---------------------------------------------------------------------------
# 3. Concise-vs-rambling preference pairs
# ---------------------------------------------------------------------------

PREF_TEST = 32

# (category, prompt, concise answer)
QA = [
    # facts
    ("facts", "What is the capital of Australia?",
     "The capital of Australia is Canberra, not Sydney as many people assume."),
    ("facts", "How many bones are in the adult human body?",
     "An adult human skeleton usually has 206 bones; babies are born with around 270 that fuse over time."),
    ("facts", "Why is the sky blue?",
     "Air molecules scatter short blue wavelengths of sunlight much more than longer red ones, so scattered blue light reaches our eyes from every direction."),
    ("facts", "What is the boiling point of water at sea level?",
     "At sea level, water boils at 100 °C (212 °F); at higher altitudes it boils at a lower temperature."),
    ("facts", "How far is the Moon from Earth?",
     "The Moon is about 384,400 kilometers (roughly 239,000 miles) from Earth on average."),
    ("facts", "Who wrote Pride and Prejudice?",
     "Jane Austen wrote Pride and Prejudice; it was first published in 1813."),
    ("facts", "What is the largest planet in our solar system?",
     "Jupiter is the largest planet in the solar system, about eleven times wider than Earth."),
    ("facts", "How long does light from the Sun take to reach Earth?",
     "Sunlight takes about 8 minutes and 20 seconds to reach Earth."),
    ("facts", "What is the chemical symbol for gold?",
     "The chemical symbol for gold is Au, from the Latin word aurum."),
    ("facts", "How many continents are there?",
     "By the most common convention there are seven: Africa, Antarctica, Asia, Australia, Europe, North America and South America."),
    ("facts", "What is the tallest mountain in the world?",
     "Mount Everest is the tallest mountain above sea level, at about 8,849 meters (29,032 feet)."),
    ("facts", "What causes the seasons on Earth?",
     "Seasons come from the roughly 23.4-degree tilt of Earth's axis, which changes how directly sunlight hits each hemisphere during the year."),
    ("facts", "How many hearts does an octopus have?",
     "An octopus has three hearts: two pump blood through the gills and one pumps it to the rest of the body."),
    ("facts", "What is the longest river in the world?",
     "The Nile is usually listed as the longest river at about 6,650 km, though some measurements put the Amazon slightly ahead."),
    ("facts", "When did humans first land on the Moon?",
     "Humans first landed on the Moon on 20 July 1969, during NASA's Apollo 11 mission."),
    ("facts", "What is the speed of sound in air?",
     "At room temperature, sound travels through air at about 343 meters per second, or roughly 1,235 km/h."),
    ("facts", "What is the smallest country in the world?",
     "Vatican City is the smallest country, covering about 0.44 square kilometers inside Rome."),
    ("facts", "Which language has the most native speakers?",
     "Mandarin Chinese has the most native speakers, with more than 900 million people."),
    ("facts", "Why do we have leap years?",
     "A year is about 365.24 days long, so adding a day every four years keeps the calendar aligned with Earth's orbit."),
    ("facts", "How many players does a soccer team have on the field?",
     "Each soccer team has eleven players on the field, including the goalkeeper."),
    ("facts", "What is the hardest natural substance?",
     "Diamond is the hardest naturally occurring material, scoring 10 on the Mohs hardness scale."),
    ("facts", "Why does ice float on water?",
     "Ice is less dense than liquid water because its molecules lock into an open crystal structure, so it floats."),
    ("facts", "What is the largest ocean?",
     "The Pacific is the largest ocean, covering roughly a third of Earth's surface."),
    ("facts", "What gas do plants absorb from the air?",
     "Plants absorb carbon dioxide from the air and use it in photosynthesis, releasing oxygen."),
    # how-to
    ("howto", "How do I boil an egg?",
     "Lower the egg into boiling water, cook 6–7 minutes for a jammy yolk or 10–12 for hard-boiled, then cool it in cold water."),
    ("howto", "How do I remove a stripped screw?",
     "Press a wide rubber band between the screwdriver and the screw head for grip, or use an inexpensive screw extractor bit if that fails."),
    ("howto", "How can I get a red wine stain out of a shirt?",
     "Blot, don't rub, then rinse from the back with cold water and treat it with dish soap or an oxygen-based stain remover before washing."),
    ("howto", "How do I make my phone battery last longer?",
     "Lower the screen brightness, shorten the screen timeout, turn off background refresh for apps you rarely use, and keep the phone out of heat."),
    ("howto", "How do I unclog a sink without chemicals?",
     "Try a plunger first; if that fails, remove and clean the P-trap under the sink, where most clogs collect."),
    ("howto", "How do I take a screenshot on Windows?",
     "Press Windows + Shift + S to select an area, or the Print Screen key to copy the whole screen to the clipboard."),
    ("howto", "How do I take a screenshot on a Mac?",
     "Press Command + Shift + 3 for the whole screen, or Command + Shift + 4 to drag-select an area; the file lands on your desktop."),
    ("howto", "How do I keep a cut avocado from turning brown?",
     "Brush the cut surface with lemon or lime juice and press plastic wrap directly against it before refrigerating."),
    ("howto", "How do I revive a wilted houseplant?",
     "Check the soil: water thoroughly if it's dry, let it drain if it's soggy, and move the plant out of harsh direct sun."),
    ("howto", "How do I cook rice on the stove?",
     "Rinse one cup of white rice, simmer it covered in about 1.5 cups of water for 15 minutes, then let it rest 10 minutes off the heat."),
    ("howto", "How do I clear my browser cache?",
     "In most browsers, press Ctrl + Shift + Delete (Command + Shift + Delete on a Mac), select cached files, and confirm."),
    ("howto", "How do I defrost chicken safely?",
     "Thaw it in the fridge overnight, or seal it in a bag under cold water changed every 30 minutes; never leave it on the counter."),
    ("howto", "How do I sharpen a kitchen knife?",
     "Use a whetstone at roughly a 15–20 degree angle, alternating sides with even strokes, then finish with a few passes on a honing steel."),
    ("howto", "How do I get wrinkles out of a shirt without an iron?",
     "Hang it in the bathroom while you run a hot shower; the steam relaxes most wrinkles in about 15 minutes."),
    ("howto", "How do I find my IP address?",
     "Search 'what is my IP' in a browser for your public address; for your local one, run ipconfig on Windows or check Network settings on a Mac."),
    ("howto", "How do I get rid of fruit flies?",
     "Set out a small dish of apple cider vinegar with a drop of dish soap, and throw away overripe fruit and damp rags."),
    ("howto", "How do I make cold brew coffee?",
     "Stir coarsely ground coffee into cold water at about 1:8 by weight, steep it 12–18 hours in the fridge, then strain."),
    ("howto", "How do I fix a flat bike tire?",
     "Remove the wheel, lever the tire off, patch or replace the inner tube, refit the tire by hand, and inflate it to the pressure on the sidewall."),
    ("howto", "How do I remove a tick?",
     "Grip the tick close to the skin with fine tweezers and pull straight up with steady pressure, then clean the area with soap or alcohol."),
    ("howto", "How do I reset a tripped circuit breaker?",
     "Find the breaker whose switch sits in the middle or off position, push it fully off, then back on; if it trips again, call an electrician."),
    ("howto", "How do I keep bread fresh longer?",
     "Keep it cut-side down in a bread box or paper bag for a couple of days and freeze it for longer; the fridge makes it stale faster."),
    ("howto", "How do I descale a kettle?",
     "Fill it halfway with equal parts water and white vinegar, boil, let it sit an hour, then rinse and boil fresh water once or twice."),
    # definitions
    ("definitions", "What is inflation?",
     "Inflation is the general rise in prices over time, which means each unit of money buys a little less than before."),
    ("definitions", "What is a mortgage?",
     "A mortgage is a loan used to buy property, where the property itself serves as collateral until the loan is repaid."),
    ("definitions", "What does 'carbon neutral' mean?",
     "Carbon neutral means removing or offsetting as much carbon dioxide as you emit, so the net total is zero."),
    ("definitions", "What is a haiku?",
     "A haiku is a short Japanese poem of three lines, traditionally with five, seven and five syllables."),
    ("definitions", "What is a placebo?",
     "A placebo is a treatment with no active ingredient, such as a sugar pill, used as a comparison for real treatments in studies."),
    ("definitions", "What is an index fund?",
     "An index fund is an investment fund that tracks a market index, like the S&P 500, offering broad diversification at low cost."),
    ("definitions", "What is photosynthesis?",
     "Photosynthesis is the process plants, algae and some bacteria use to turn sunlight, water and carbon dioxide into sugar and oxygen."),
    ("definitions", "What is DNA?",
     "DNA is the molecule that carries genetic instructions in living things, built as a double helix from four chemical bases."),
    ("definitions", "What is a metaphor?",
     "A metaphor describes something by saying it is something else, as in 'time is a thief', without using 'like' or 'as'."),
    ("definitions", "What is compound interest?",
     "Compound interest is interest earned on both your original amount and the interest already added, so growth speeds up over time."),
    ("definitions", "What is an allergy?",
     "An allergy is the immune system overreacting to a normally harmless substance, such as pollen or peanuts."),
    ("definitions", "What is a black hole?",
     "A black hole is a region of space where gravity is so strong that nothing, not even light, escapes once it crosses the event horizon."),
    ("definitions", "What is a recession?",
     "A recession is a significant, widespread decline in economic activity, often loosely defined as two consecutive quarters of falling GDP."),
    ("definitions", "What is the greenhouse effect?",
     "The greenhouse effect is the warming that happens when gases like carbon dioxide and methane trap heat radiated from Earth's surface."),
    ("definitions", "What does GDP stand for?",
     "GDP stands for gross domestic product: the total value of goods and services produced in a country over a period."),
    ("definitions", "What is a sonnet?",
     "A sonnet is a 14-line poem, usually in iambic pentameter, with a set rhyme scheme such as the Shakespearean or Petrarchan."),
    ("definitions", "What is an antibiotic?",
     "An antibiotic is a medicine that kills or slows the growth of bacteria; it doesn't work against viruses like colds or flu."),
    ("definitions", "What is a vaccine?",
     "A vaccine trains your immune system to recognize a germ, using a harmless piece or weakened form of it, so you can fight it off later."),
    ("definitions", "What is the difference between weather and climate?",
     "Weather is the short-term state of the atmosphere, while climate is the average pattern of weather in a place over decades."),
    ("definitions", "What is a credit score?",
     "A credit score is a number summarizing how reliably you've repaid debts, which lenders use to decide whether and at what rate to lend."),
    ("definitions", "What is an idiom?",
     "An idiom is a phrase whose meaning differs from its literal words, like 'break the ice' for easing social tension."),
    ("definitions", "What is osmosis?",
     "Osmosis is the movement of water across a semi-permeable membrane from a less concentrated solution to a more concentrated one."),
    # quick advice
    ("advice", "Should I stretch before running?",
     "Do a few minutes of dynamic warm-up, like leg swings and easy jogging, before running; save longer static stretches for afterward."),
    ("advice", "How much water should I drink a day?",
     "Most healthy adults need roughly 2 to 3 liters of fluid a day from all sources; drinking when thirsty is a good guide."),
    ("advice", "How can I stop procrastinating?",
     "Break the task into a tiny first step, set a timer for 25 minutes, and put your phone in another room before you start."),
    ("advice", "How long should a nap be?",
     "Keep naps to about 10–20 minutes to feel refreshed without grogginess, and avoid napping late in the afternoon."),
    ("advice", "How should I prepare for a job interview?",
     "Research the company, prepare short stories that show your key skills, practice answers aloud, and bring two or three thoughtful questions."),
    ("advice", "What should I pack for a day hike?",
     "Pack water, snacks, layers, rain gear, sturdy shoes, a map or offline app, sunscreen, a headlamp and a small first-aid kit."),
    ("advice", "How can I save money on groceries?",
     "Plan meals around a list, buy store brands and seasonal produce, and compare unit prices rather than package prices."),
    ("advice", "Is it better to rent or buy a home?",
     "Buying usually pays off if you'll stay at least five years and can afford the upfront costs; otherwise renting is often cheaper and more flexible."),
    ("advice", "How often should I replace my toothbrush?",
     "Replace your toothbrush or brush head every three to four months, or sooner if the bristles are frayed."),
    ("advice", "How can I improve my handwriting?",
     "Slow down, hold the pen loosely, and practice letter shapes for ten minutes a day on lined paper."),
    ("advice", "How do I start running as a beginner?",
     "Start with a run-walk plan, such as one minute running and two walking for 20–30 minutes, three times a week, and build up gradually."),
    ("advice", "How can I reduce eye strain from screens?",
     "Follow the 20-20-20 rule: every 20 minutes, look at something 20 feet away for 20 seconds, and keep the screen slightly below eye level."),
    ("advice", "How do I politely decline an invitation?",
     "Thank them warmly, say you can't make it, and suggest another time if you'd like; you don't owe a detailed excuse."),
    ("advice", "What's a good way to learn a new language?",
     "Practice a little every day, combine a spaced-repetition app for vocabulary with real listening and speaking, and learn common phrases first."),
    ("advice", "How can I make a small apartment feel bigger?",
     "Use light colors, mirrors and furniture with visible legs, keep surfaces clear, and choose a few larger pieces over many small ones."),
    ("advice", "How much should I tip at a restaurant in the US?",
     "In the US, 15–20% of the pre-tax bill is standard for sit-down service, with 20% common for good service."),
    ("advice", "How do I keep my houseplants alive while I'm on vacation?",
     "Water them thoroughly before leaving, group them away from direct sun, and use self-watering spikes or a wick into a water jar for longer trips."),
    ("advice", "What should I do if I spill water on my laptop?",
     "Turn it off and unplug it immediately, then let it dry open and upside down for at least 48 hours before switching it on."),
    ("advice", "How can I be more productive working from home?",
     "Keep a set schedule, work from a dedicated spot, and plan breaks so your day has clear start and end points."),
    ("advice", "How can I get better at remembering people's names?",
     "Repeat the name when you're introduced, use it once in conversation, and link it to something memorable about the person."),
    ("advice", "How do I make a strong password?",
     "Use a long passphrase of four or more random words, make it unique for each site, and let a password manager remember it."),
    ("advice", "How can I fall asleep faster?",
     "Keep a consistent bedtime, avoid screens and caffeine late in the day, and keep your bedroom cool, dark and quiet."),
    # unit conversions
    ("conversions", "How many kilometers are in 10 miles?",
     "Ten miles is about 16.1 kilometers, since one mile equals 1.609 km."),
    ("conversions", "What is 180 °C in Fahrenheit?",
     "180 °C is 356 °F, using F = C × 9/5 + 32."),
    ("conversions", "How many ounces are in a pound?",
     "There are 16 ounces in a pound, and one pound is about 454 grams."),
    ("conversions", "How many cups are in a liter?",
     "One liter is about 4.2 US cups, since a US cup is roughly 237 milliliters."),
    ("conversions", "What is 5 feet 10 inches in centimeters?",
     "5 feet 10 inches is 70 inches, which is about 178 centimeters."),
    ("conversions", "How many tablespoons are in a cup?",
     "A US cup holds 16 tablespoons, and each tablespoon is 3 teaspoons."),
    ("conversions", "How many pounds is 70 kilograms?",
     "70 kilograms is about 154 pounds, since one kilogram equals 2.205 pounds."),
    ("conversions", "How many seconds are in a day?",
     "A day has 86,400 seconds: 24 hours × 60 minutes × 60 seconds."),
    ("conversions", "What is 100 °F in Celsius?",
     "100 °F is about 37.8 °C, using C = (F − 32) × 5/9."),
    ("conversions", "How many meters are in a mile?",
     "A mile is exactly 1,609.344 meters, or roughly 1.6 kilometers."),
    ("conversions", "How many milliliters are in a teaspoon?",
     "A US teaspoon is about 4.93 milliliters, usually rounded to 5 ml in recipes."),
    ("conversions", "How many bytes are in a kilobyte?",
     "A kilobyte is 1,000 bytes in the SI convention, while a kibibyte (KiB) is 1,024 bytes."),
    ("conversions", "How fast is 100 km/h in miles per hour?",
     "100 km/h is about 62 miles per hour, since one kilometer is roughly 0.621 miles."),
    ("conversions", "How many square feet are in a square meter?",
     "One square meter is about 10.76 square feet, so a 20 m² room is roughly 215 square feet."),
    ("conversions", "How many liters are in a gallon?",
     "A US gallon is about 3.785 liters, while an imperial (UK) gallon is about 4.546 liters."),
    ("conversions", "How many hours are in a year?",
     "A standard 365-day year has 8,760 hours, and a leap year has 8,784."),
    ("conversions", "How long is a marathon in kilometers?",
     "A marathon is 42.195 kilometers, which is about 26.2 miles."),
    ("conversions", "How many inches are in a meter?",
     "One meter is about 39.37 inches, a little more than a yard."),
    ("conversions", "How do kilojoules convert to calories?",
     "One kilojoule is about 0.239 kilocalories (food Calories), and one kilocalorie is about 4.184 kilojoules."),
    ("conversions", "How many minutes are in 2.5 hours?",
     "2.5 hours is 150 minutes, because each hour has 60 minutes."),
    ("conversions", "How many grams are in a stick of butter?",
     "One US stick of butter is 8 tablespoons, or about 113 grams (4 ounces)."),
    ("conversions", "How long is a nautical mile in kilometers?",
     "One nautical mile is exactly 1.852 kilometers, or about 1.15 statute miles."),
    # programming
    ("programming", "What is a variable in programming?",
     "A variable is a named place that stores a value, like a number or text, so your program can use and change it later."),
    ("programming", "What is the difference between a list and a tuple in Python?",
     "Lists are mutable, so you can change their contents; tuples are immutable, so they can serve as dictionary keys when their items are hashable."),
    ("programming", "What is recursion?",
     "Recursion is when a function calls itself on a smaller version of the problem until it reaches a simple base case it can solve directly."),
    ("programming", "What does an API do?",
     "An API is a defined set of rules that lets one program request data or services from another without knowing its internal code."),
    ("programming", "What is Git used for?",
     "Git is a version control system that tracks changes to files, lets you return to earlier versions, and helps people work on the same code."),
    ("programming", "How do I undo my last Git commit but keep the changes?",
     "Run git reset --soft HEAD~1; the commit is removed but your changes stay staged."),
    ("programming", "What is a race condition?",
     "A race condition is a bug where the result depends on the unpredictable timing of threads or processes accessing shared data."),
    ("programming", "What is Big O notation?",
     "Big O notation describes how an algorithm's running time or memory grows as the input gets larger, such as O(n) or O(n log n)."),
    ("programming", "What is the difference between == and === in JavaScript?",
     "== compares values after type conversion, so 0 == '0' is true; === also requires the same type, so 0 === '0' is false."),
    ("programming", "What is a hash table?",
     "A hash table stores key-value pairs and uses a hash function to find each key's slot, giving average constant-time lookups."),
    ("programming", "What is a JOIN in SQL?",
     "A JOIN combines rows from two or more tables based on a related column, such as matching orders to customers by customer ID."),
    ("programming", "What does a null pointer exception mean?",
     "It means the program tried to use a reference that points to nothing, such as calling a method on a variable that is null."),
    ("programming", "What is a Docker container?",
     "A Docker container is a lightweight, isolated package that bundles an application with its dependencies so it runs the same on any machine."),
    ("programming", "What is the difference between a process and a thread?",
     "A process is a running program with its own memory; threads are units of execution inside a process that share its memory."),
    ("programming", "What is a unit test?",
     "A unit test is a small automated check that verifies one function or component behaves correctly in isolation."),
    ("programming", "How do I reverse a string in Python?",
     "Use slicing with a negative step: text[::-1] returns a new string with the characters in reverse order."),
    ("programming", "What is an off-by-one error?",
     "An off-by-one error is a bug where a loop or index goes one step too far or stops one step too early, often at array boundaries."),
    ("programming", "What is garbage collection?",
     "Garbage collection is automatic memory management: the runtime finds objects the program can no longer reach and frees their memory."),
    ("programming", "What is a regular expression?",
     "A regular expression is a pattern for matching text, used to search, validate or replace strings such as email addresses or dates."),
    ("programming", "What is the difference between HTTP and HTTPS?",
     "HTTPS is HTTP sent over an encrypted TLS connection, so data can't easily be read or altered in transit and the site's identity is verified."),
    ("programming", "What is JSON?",
     "JSON is a lightweight text format for data, built from key-value objects and arrays, that is easy for both humans and programs to read."),
    ("programming", "What is a merge conflict in Git?",
     "A merge conflict happens when two branches change the same lines of a file differently, and Git needs you to choose the final version."),
    ("programming", "What is the difference between a shallow copy and a deep copy?",
     "A shallow copy duplicates the outer object but shares nested objects; a deep copy duplicates everything recursively, so changes don't leak between copies."),
    ("programming", "How do I create a Python virtual environment?",
     "Run python -m venv .venv, then activate it with source .venv/bin/activate on macOS or Linux, or .venv\\Scripts\\activate on Windows."),
    # machine learning
    ("ml", "What is a learning rate?",
     "The learning rate controls how big a step the optimizer takes when updating model weights; too high diverges, too low trains slowly."),
    ("ml", "What is overfitting?",
     "Overfitting is when a model memorizes its training data, noise included, so it does well in training but poorly on new data."),
    ("ml", "What is a neural network?",
     "A neural network is a model made of layers of simple connected units whose weights are learned from data to map inputs to outputs."),
    ("ml", "What is gradient descent?",
     "Gradient descent is an optimization method that repeatedly nudges parameters in the direction that most reduces the loss, using its gradient."),
    ("ml", "What is a loss function?",
     "A loss function measures how far a model's predictions are from the correct answers, giving training a single number to minimize."),
    ("ml", "What is the difference between training and test data?",
     "Training data is used to fit the model; test data is held out and used only at the end to estimate performance on unseen examples."),
    ("ml", "What is a token in a language model?",
     "A token is a chunk of text, often a word or part of a word, that a language model reads and predicts one at a time."),
    ("ml", "What is fine-tuning?",
     "Fine-tuning is continuing to train a pretrained model on a smaller, task-specific dataset so it adapts to that task or style."),
    ("ml", "What is LoRA?",
     "LoRA is a fine-tuning method that freezes the original weights and trains small low-rank matrices added to them, saving memory and storage."),
    ("ml", "What is batch size?",
     "Batch size is the number of training examples processed together before the model's weights are updated once."),
    ("ml", "What is an epoch?",
     "An epoch is one complete pass through the entire training dataset during training."),
    ("ml", "What is dropout?",
     "Dropout is a regularization technique that randomly disables a fraction of neurons during training so the network can't rely on any single one."),
    ("ml", "What is a transformer model?",
     "A transformer is a neural network architecture built around self-attention, which lets every token weigh every other token; it powers most modern language models."),
    ("ml", "What is attention in a neural network?",
     "Attention lets a model weigh different parts of its input by relevance when computing each output, instead of treating every part equally."),
    ("ml", "What is a validation set?",
     "A validation set is data held out from training to tune hyperparameters and decide when to stop, kept separate from the final test set."),
    ("ml", "What is an embedding?",
     "An embedding is a list of numbers representing an item, like a word or an image, so that similar items end up close together."),
    ("ml", "What is a hyperparameter?",
     "A hyperparameter is a setting chosen before training, such as the learning rate or batch size, rather than learned from the data."),
    ("ml", "What does temperature do in text generation?",
     "Temperature rescales the model's output probabilities before sampling: low values make text more predictable, high values more varied and random."),
    ("ml", "What is the difference between precision and recall?",
     "Precision is the share of predicted positives that are correct; recall is the share of actual positives the model finds."),
    ("ml", "What is quantization in machine learning?",
     "Quantization stores model weights, and sometimes activations, with fewer bits, such as 8 or 4 instead of 16, to cut memory use and speed up inference."),
    ("ml", "What is a context window?",
     "A context window is the maximum number of tokens a language model can consider at once, including both the prompt and its response."),
    ("ml", "What is gradient accumulation?",
     "Gradient accumulation adds up gradients over several small batches before updating the weights, simulating a larger batch when memory is limited."),
    ("ml", "What is a checkpoint in model training?",
     "A checkpoint is a saved snapshot of a model's weights, and often its optimizer state, so training can resume or the model can be reused."),
    ("ml", "What is DPO?",
     "Direct Preference Optimization trains a model directly on pairs of preferred and rejected responses, without a separate reward model or reinforcement learning loop."),
]

RAMBLE_OPENERS = [
    "Great question!",
    "Oh, this is a really good question, and honestly one that comes up a lot.",
    "Thanks so much for asking about this!",
    "Ah, what a fantastic thing to be curious about.",
    "What a great question, and I'm really glad you asked it.",
    "Sure thing! Let me walk you through this one.",
    "Absolutely, I'd be more than happy to help with that.",
    "Okay, so this is actually a really interesting one.",
]
RAMBLE_RESTATE = [
    'So, you want to know: "{prompt}" That\'s a very reasonable thing to wonder about.',
    'You\'re asking "{prompt}", which is something a lot of people are curious about.',
    'Let me make sure I understand. Your question is "{prompt}" Got it.',
    "Before I answer, it's worth taking a moment to think about what the question is really asking.",
    "There are a few different ways to approach this, so let me start at the beginning.",
    'The question "{prompt}" might seem simple at first, but there\'s more to it than meets the eye.',
]
RAMBLE_HEDGE_BEFORE = [
    "Now, I should say up front that I'm not an expert, and there may be nuances I'm missing.",
    "Of course, the details can vary a bit depending on your situation, so take this as a general guide.",
    "It's important to remember that every case is a little different, but generally speaking, here's how it works.",
    "I want to be careful not to oversimplify, but I'll try to keep this as clear as I possibly can.",
]
RAMBLE_CORE = [
    "Basically, the short version is this: {core}",
    "So, to get to the heart of it: {core}",
    "Here's the main thing to know. {core}",
    "The answer, put simply, goes something like this: {core}",
    "{core}",
]
RAMBLE_TANGENTS = {
    "facts": [
        "It's actually fascinating how many everyday facts like this most of us never really stop to think about.",
        "Interestingly, a lot of people learned this a little differently in school, and reference books get updated as measurements improve.",
        "This is also the kind of thing that makes for a great trivia question at a dinner party, if you're into that sort of thing.",
    ],
    "howto": [
        "Of course, there are lots of videos online showing different techniques, and everyone seems to have their own favorite method.",
        "Personally, I think it's one of those skills that's really worth learning, because it comes up more often than you'd expect.",
        "You might also want to look at any manufacturer's instructions, since they sometimes have their own specific recommendations.",
    ],
    "definitions": [
        "The word itself has an interesting history, and its meaning has shifted a little over the years depending on who's using it.",
        "It's one of those terms that gets thrown around a lot, often without people being completely sure what it means.",
        "You'll probably see it used slightly differently in the news, in textbooks and in everyday conversation.",
    ],
    "advice": [
        "Everyone is different, of course, so what works for one person might not work for another, and that's completely okay.",
        "It can also help to talk to friends or family about it, since they may have tried something similar themselves.",
        "A lot of people overthink this kind of thing, so try not to stress about it too much.",
    ],
    "conversions": [
        "Unit conversions can be surprisingly confusing, especially since different countries use different systems.",
        "The metric system, for what it's worth, was introduced in France in the 1790s, and most of the world uses it today.",
        "If you do this kind of conversion often, it might be worth bookmarking a converter or keeping a little chart on the fridge.",
    ],
    "programming": [
        "Programming has a lot of concepts like this, and it can take a while before they really click, so don't worry if it seems abstract at first.",
        "There's a lot of debate online about best practices here, and different languages handle things in slightly different ways.",
        "If you want to go deeper, the official documentation is usually a good place to start, although it can be a bit dense.",
    ],
    "ml": [
        "Machine learning is full of jargon like this, and honestly it can be overwhelming when you're just starting out.",
        "This area of research moves incredibly fast, so there are always new papers and techniques building on ideas like this one.",
        "It's also one of those ideas that's much easier to understand once you actually try it out in a small experiment.",
    ],
    "any": [
        "There's a lot more that could be said about this, of course, and whole books have been written on related topics.",
        "People have different opinions about some of the finer points, but the basic idea is widely accepted.",
    ],
}
RAMBLE_HEDGE_AFTER = [
    "That said, it really does depend on the specifics, so you may want to double-check for your particular case.",
    "Again, I'd recommend verifying this with another source if it's important, just to be on the safe side.",
    "Of course, there are always exceptions, and this is only a general overview.",
]
RAMBLE_SUMMARY = [
    "So, to sum up: {core}",
    "To wrap things up, the key takeaway is this: {core}",
    "Long story short: {core}",
    "In a nutshell: {core}",
    "To recap: {core}",
]
RAMBLE_SIGNOFF = [
    "I hope this helps! Let me know if you have any other questions.",
    "Hopefully that clears things up a bit. Feel free to ask if anything is unclear!",
    "I hope that answers your question! Happy to go into more detail if you'd like.",
    "Let me know if you'd like me to explain any part of this in more depth!",
]
REJECTED_WORDS = (80, 140)
CHOSEN_WORDS = (10, 35)


def _ramble(rng: random.Random, category: str, prompt: str, core: str) -> str:
    """Wrap the concise answer in throat-clearing, restating, hedging, tangents and a recap."""
    for _attempt in range(1000):
        parts = [rng.choice(RAMBLE_OPENERS), rng.choice(RAMBLE_RESTATE).format(prompt=prompt)]
        if rng.random() < 0.7:
            parts.append(rng.choice(RAMBLE_HEDGE_BEFORE))
        parts.append(rng.choice(RAMBLE_CORE).format(core=core))
        tangents = RAMBLE_TANGENTS[category] + RAMBLE_TANGENTS["any"]
        parts += rng.sample(tangents, rng.choice([1, 2]))
        if rng.random() < 0.6:
            parts.append(rng.choice(RAMBLE_HEDGE_AFTER))
        parts.append(rng.choice(RAMBLE_SUMMARY).format(core=core))
        parts.append(rng.choice(RAMBLE_SIGNOFF))
        text = " ".join(parts)
        if REJECTED_WORDS[0] <= len(text.split()) <= REJECTED_WORDS[1]:
            return text
    raise RuntimeError(f"could not build a rambling answer for {prompt!r}")


def build_preference(rng: random.Random) -> list[dict]:
    rows = [{"prompt": p, "chosen": c, "rejected": _ramble(rng, cat, p, c)} for cat, p, c in QA]
    rng.shuffle(rows)
    return rows


def build_feedback(rng: random.Random, prefs: list[dict]) -> list[dict]:
    """The pairs unpaired: each prompt once, with its chosen answer (label true) or its rejected one (false).
    Exactly half of each split is good, so the train and test splits follow the pairs' split."""
    rows = []
    for part in (prefs[:-PREF_TEST], prefs[-PREF_TEST:]):
        labels = [True] * (len(part) // 2) + [False] * (len(part) - len(part) // 2)
        rng.shuffle(labels)
        rows += [{"prompt": r["prompt"], "completion": r["chosen"] if good else r["rejected"], "label": good}
                 for r, good in zip(part, labels)]
    return rows


# ---------------------------------------------------------------------------
# 4. Raw text about an invented place (continued pre-training)
# ---------------------------------------------------------------------------

# One paragraph per blank-line-separated block; line breaks inside a block are just wrapping.
WIKI_TEXT = """\
Lanternhold is a small harbor town on the eastern coast of Vessa, a rocky island in the Corran Sea.
About 4,200 people live there year-round, a number that roughly doubles in summer. The town is built
around a horseshoe-shaped bay that locals call the Crook, with steep lanes climbing from the water
to the slopes of Greyback Hill. Lanternhold is best known for its stone lighthouse, the Tallow
Light, for its blue glass, and for the Festival of the Long Wick, held every autumn.

The name Lanternhold comes from a custom of the first settlers. When the fishing boats were out
after dark, the families left behind hung lanterns along the cliff path above the bay so that the
crews could find the narrow entrance of the Crook. Early records call the settlement the Lantern
Hold, meaning the place that holds the lanterns. By the sixteenth century the two words had merged
into a single name, and the town seal still shows three lanterns above a wave.

According to the town chronicle, Lanternhold was founded in 1412 by a group of salt traders from the
mainland port of Aubin. Their leader, a widow named Ysolde Marrow, chose the Crook because its
shallow northern shore was ideal for salt pans and its deep southern side sheltered boats from
winter gales. The first permanent buildings were a salt store, a chapel and a row of stone cottages,
parts of which survive in the district still known as the Saltings.

In 1534 Duke Osric of Vessa granted Lanternhold a town charter in return for a yearly payment of
forty barrels of salt and the upkeep of a warning light on the headland. The charter allowed the
town to hold a weekly market, elect its own council and collect harbor dues. The original parchment,
damaged by damp and repaired twice, is kept in a sealed case in the council chamber and is brought
out only on Charter Day, the ninth of May.

Lanternhold is governed by a council of eleven Wardens, elected every four years by residents over
the age of sixteen. The council is chaired by the Lamp-Warden, who is chosen by the Wardens from
among themselves and wears a small brass lantern on a chain during formal meetings. The council
meets on the first Tuesday of each month in the old Customs House. Its duties include the harbor,
the cliff paths, local roads and the organization of the Long Wick festival.

The Tallow Light stands on Beacon Point at the southern tip of the Crook. Built between 1686 and
1688 from grey granite quarried on Greyback Hill, the tower is 31 meters tall and has 142 steps. Its
name recalls the tallow candles used before the first oil lamp was installed in 1721. The light was
converted to paraffin in 1870 and to electricity in 1952. It has been automated since 1994, but
volunteers still open the tower to visitors on summer afternoons.

The Crook is about two kilometers across at its widest point. Its northern shore is low and muddy,
while the southern shore ends in the cliffs of Beacon Point. The small river Sill flows into the bay
from the west, passing through a narrow wooded valley known as the Sill Gorge. Offshore, a line of
jagged rocks called the Black Teeth breaks the surface at low tide and has caused more shipwrecks
than any other hazard on the Vessa coast.

Greyback Hill rises directly behind the town to a height of 412 meters. Its lower slopes are covered
in heather and gorse, and its upper ridge is bare rock, which gives the hill its grey, humped
outline when seen from the sea. Small cobalt mines operated on the eastern face from the 1760s until
1903, and their entrances can still be seen from the ridge path. Since 2009, six wind turbines on
the northern shoulder have supplied most of the town's electricity.

Lanternhold has a mild, wet climate, with cool summers and winters that rarely bring frost. Rain
falls on about two hundred days a year, mostly from October to February. In spring, thick sea fog
often rolls into the Crook in the early morning. Locals call this fog the wool, and an old saying
holds that a day which begins in the wool will end in sunshine. Fishermen traditionally refused to
leave harbor while the wool covered the Black Teeth.

The town is divided into four traditional districts. Harborside stretches along the quay and
contains the fish market, the ferry terminal and most shops. The Steeps is the upper town, a maze of
stepped lanes and painted houses on the slope of Greyback Hill. The Saltings, on the flat northern
shore, is the oldest quarter and still shows traces of medieval salt pans. Ferrow Lane, to the west,
was the glassmakers' district and is now known for its studios and galleries.

Harborside and the Steeps are connected by the Lanternhold Cliff Railway, a funicular opened in
1911. Its two wooden cars, named Agnes and Ysolde, run on parallel tracks 96 meters long and are
balanced against each other by a steel cable, so that one car rises as the other descends. Until
1967 the railway was powered by water ballast from a tank at the top station; it now runs on an
electric motor. A single ride takes about ninety seconds.

Salt was the foundation of Lanternhold's early wealth. Seawater was let into shallow clay pans on
the northern shore at high tide and left to evaporate in the summer sun, while in winter it was
boiled in iron pans over peat fires. Lanternhold salt, coarse and slightly grey, was prized for
curing herring. The industry declined after cheaper mined salt arrived from the mainland, and the
last salt pan closed in 1894. A restored pan near the Saltings now produces salt for the festival.

For three centuries the herring fishery shaped the rhythm of town life. Each summer the shoals
passed close to Vessa, and at the peak of the trade in the 1850s more than ninety boats sailed from
the Crook. Women gutted and packed the catch in salt on the quay, working in teams of three known as
crews of the knife. The herring disappeared from local waters in the 1920s, and most fishermen
turned to crab and lobster, which remain the main catch today.

Glassmaking began in Lanternhold in the 1740s, using sand from the Sill estuary and kelp ash as a
flux. In 1774 the glassmaker Agnes Tulley added cobalt ore from Greyback Hill to her melt and
produced a deep, clear blue that became known as Lanternhold blue. Lanterns, bottles and window
panes in this color were sold all around the Corran Sea. Today five small workshops on Ferrow Lane
still make blue glass, and visitors can watch the glassblowers at work on most weekdays.

On the night of 14 March 1829, a furnace at the Tulley glassworks overheated and set fire to the
timber roof. Driven by an easterly wind, the blaze spread along Ferrow Lane and destroyed thirty-one
buildings before it was stopped at the Sill bridge. No one died, but most of the glass workshops
were lost. The lane was rebuilt in stone with slate roofs, and the council banned thatch within the
town limits, a rule that is still in force.

The worst disaster in the town's history was the Great Storm of November 1703. A sudden gale caught
the fishing fleet near the Black Teeth, and twenty-three boats were sunk or driven onto the rocks.
Fifty-eight men drowned. Captain Edwin Hale, whose boat reached the harbor first, went back out
three times and brought nineteen survivors ashore. A memorial stone listing the names of the dead
stands at the end of the harbor wall, and a bell is rung there on every anniversary.

In 1761 the duke's agent raised the tax on salt shipped out of Lanternhold by one third. The salt
workers, already struggling after two wet summers, refused to load the duke's ship and blocked the
quay with carts and barrels. The standoff, later called the Salt Riot, lasted eleven days and ended
without bloodshed when the agent agreed to restore the old rate. The event is remembered every year
when children block the quay with painted barrels during the summer fair.

The Festival of the Long Wick is Lanternhold's most important celebration. It takes place on the
first new moon after the autumn equinox. At dusk every household places a lantern in its front
window, and the town's street lights are switched off. The festival honors those lost at sea and
marks the end of the main fishing season. It draws several thousand visitors each year, and extra
ferries from Aubin run through the night.

The centerpiece of the Long Wick is the procession of the Mother Lantern, a large lantern of
Lanternhold blue glass made in 1775 in Agnes Tulley's workshop. The Lamp-Warden lights it from the
Tallow Light, and it is carried down the cliff path to the harbor, accompanied by drummers and the
town choir. At the harbor, the skipper of each boat lights a lantern from its flame. The Mother
Lantern then spends the night on the memorial stone at the end of the harbor wall.

One of the strictest customs of the Long Wick is that no festival lantern may be blown out. Each
lantern must burn until its candle or oil is exhausted, which is why households use short candles or
fill their lamps only partly. Blowing out a festival light is considered deeply unlucky and is said
to cut a sailor's line. Children who help prepare the lanterns are taught to trim the wicks
carefully so that every light lasts at least until midnight.

In the weeks before the festival, children at the Marrow School build paper lanterns on frames of
willow or split cane. Each lantern carries a painted symbol chosen by its maker, often a fish, a
star, a boat or the initial of a relative who works at sea. On festival night the children carry
their lanterns in a separate procession through the Steeps, singing The Long Wick Song, a simple
tune of four verses whose words are said to date from the seventeenth century.

The best-known dish of Lanternhold is sillfish stew, a thick soup of smoked herring, pearl barley,
potatoes and sorrel. Since the herring left local waters, it has usually been made with smoked
mackerel, although older residents insist the taste is not the same. The stew is traditionally eaten
on the night of the Long Wick, cooked in large pots on the quay and served in bowls of Lanternhold
blue glass to anyone who brings a lantern.

Salt cake is a dense honey cake topped with flakes of sea salt from the restored pans in the
Saltings. It is baked in long trays and cut into diamond shapes, one of which is traditionally left
on the windowsill beside the festival lantern. With it, people drink fogwater, a cordial of juniper
berries, honey and lemon peel diluted with hot water. Despite its name, fogwater contains no
alcohol, though many families add a measure of mainland gin.

Smoking fish was once the second industry of Lanternhold after salt. At the height of the herring
trade, the town had fourteen smokehouses, tall stone sheds with slatted roofs where fish hung over
smoldering oak chips for up to three days. Only one, the Keel Smokehouse on the Saltings shore,
still operates. It produces smoked mackerel, crab paste and a local flatbread called smokehouse
bannock, which is baked on the stone floor beside the fires.

Older residents speak a local dialect known as Holdish, which mixes the mainland language with words
of uncertain origin. A friend is a wick, the sea fog is the wool, and a person born within sight of
the bay is a crooker. The greeting glim to you, literally light to you, is still heard in the fish
market. The dialect was recorded in detail by the schoolteacher Martha Ilse, whose Holdish word list
of 1926 contains about 1,300 entries.

Houses in the Steeps are typically narrow, two or three stories high, with slate roofs and walls
painted in soft colors such as pale green, ochre and rose. Many front doors have a small recess in
the wall beside them, called a lantern niche, where a light was placed for returning fishermen.
Older houses often have a single window pane of Lanternhold blue glass, traditionally fitted when a
child was born. Building rules now require new houses to keep the old colors.

The oldest surviving building in Lanternhold is St Brenna's Chapel, a small stone church in the
Saltings whose nave dates from around 1430. Brenna is venerated on Vessa as the protector of
fishermen, and models of boats hang from the chapel's roof beams, each one given by a family in
thanks for a safe return. On the Sunday before the Long Wick, the nets of every working boat are
carried into the chapel and blessed in a short service.

The Lanternhold Museum of the Sea occupies the upper floor of the old Customs House, a granite
building on the quay completed in 1802. Its collection includes a full-size herring boat, the oars
used by Captain Edwin Hale in 1703, early pieces of Lanternhold blue glass and a large model of the
town as it looked in 1850. The museum is run by volunteers, opens from April to October and receives
about 30,000 visitors a year.

The Marrow School, named after the town's founder, opened in 1790 as a charity school for the
children of fishermen and salt workers. It was one of the first schools on Vessa to admit girls on
equal terms, at the insistence of its first headmistress, Clara Vane. Today it teaches about 380
pupils aged five to sixteen. Older students take the ferry to the mainland to finish their
education, and many spend the school week in lodgings in Aubin.

Lanternhold has no airport or railway station. The town is connected to the mainland by a ferry from
Port Aubin, which takes about two and a half hours and runs twice a day in summer and once a day in
winter. The current ferry, the Maid of Aubin, entered service in 2004 and carries up to 300
passengers and 40 cars. On the island itself, a single road links Lanternhold to the villages of
Carrow and Dunmere on the western coast.

Every June the town holds the Crook Row, a race of traditional six-oared gigs from Beacon Point to
the Saltings shore and back, a distance of about four kilometers. Crews represent the four
districts, and the winning district keeps a silver oar in its pub for the following year. The race
commemorates the rescue crews of the Great Storm of 1703. Harborside has won most often, but the
Steeps crew set the current record of 21 minutes and 14 seconds in 2016.

Hurl-the-buoy is a rough ball game played on the sands below the Saltings on New Year's Day. Two
teams try to carry or throw an old cork fishing buoy across the opposing team's line, which is
marked by driftwood poles. There are few rules and no limit to the number of players. Traditionally
the married men played against the unmarried men, but since the 1980s women have joined in, and the
teams are now usually the Steeps against the rest of the town.

The cliffs of Beacon Point and Greyback Hill support large colonies of seabirds, including puffins,
guillemots and kittiwakes, which nest there from April to August. Grey seals haul out on the Black
Teeth at low tide and can often be seen from the harbor wall. The heath on Greyback is the only
known home of the Vessa moth, a small brown and silver moth first described in 1911. Parts of the
hill have been a protected nature reserve since 1978.

The poet Tomas Keel, born into a smokehouse family in 1871, is Lanternhold's best-known writer. His
collection Songs of the Wool, published in 1902, describes the lives of fishing families in plain
language mixed with Holdish words. Keel left the island in his twenties to work as a clerk in Aubin,
but he returned every year for the Long Wick. His poem Lantern Niche is read aloud at the start of
the festival procession, and his house in the Steeps is now a small library.

Dr Ruth Abernathy, the town's doctor for nearly forty years, became the first woman elected
Lamp-Warden in 1961. During her two terms she oversaw the building of a new breakwater, the
connection of the Steeps to mains water and the rescue of the cliff railway, which had been
threatened with closure. She also founded the Lanternhold Lifeboat Fund. A bronze lantern in her
memory hangs at the entrance to the health center on Harbor Street.

The Lanternhold Gazette has been published every Friday since 1868, making it one of the oldest
weekly newspapers in the Corran Sea islands. Its pages cover council meetings, ferry timetables,
births and deaths, and the catch reports of local boats. A long-running column, From the Wool,
collects sightings of seals, whales and unusual birds sent in by readers. Since 2015 the Gazette has
also appeared online, although the printed edition still sells around 1,500 copies a week.

The Thursday fish market on the quay has been held almost without interruption since the charter of
1534 allowed a weekly market. Stalls open at six in the morning, and most of the crab and lobster is
sold by nine, much of it to buyers who carry it to mainland restaurants on the morning ferry. In the
afternoon the market turns into a general market selling vegetables, wool, smoked fish and glass. By
tradition, the first crab sold each week is offered to the oldest fisherman present.

During the winter months, Lanternhold keeps up a tradition of storytelling evenings called wick
tales. Neighbors gather in a kitchen or in the back room of a pub, and each guest tells a story
while a single candle burns; when the candle gutters, the teller must stop, even in mid-sentence.
Favorite subjects include shipwrecks, smugglers, the ghost of a lighthouse keeper and the sea-bride
who is said to walk on the Black Teeth on foggy nights.

Lanternhold's population reached its peak of about 6,800 in 1881, at the height of the herring
trade, and then fell steadily for almost a century as young people left for the mainland. It reached
a low of 3,100 in 1971 before slowly recovering. Today tourism is the largest employer, followed by
fishing, glassmaking and public services. Many former fishermen's cottages in the Steeps are now
rented to visitors, a trend that has raised concerns about housing for local families.

The Lanternhold Choir, founded in 1882 by members of St Brenna's Chapel, is known across Vessa for
its deep, unaccompanied singing. Its repertoire includes work songs once sung while hauling nets,
old hymns and settings of poems by Tomas Keel. The choir accompanies the Mother Lantern procession
at the Long Wick and gives a midwinter concert in the Customs House. Its forty members rehearse on
Wednesday evenings, and new singers are welcome without an audition.

The Lanternhold lifeboat station was founded in 1884, after a schooner was lost on the Black Teeth
with all hands, and stands at the foot of Beacon Point. Its volunteer crew of about twenty launch
the lifeboat, currently named Edwin Hale, on around thirty calls a year, most of them to yachts and
fishing boats in trouble in fog. Lifeboat Day in August, with boat rides, rowing races and a cake
stall, raises much of the station's running costs.
"""
WIKI = [" ".join(block.split()) for block in WIKI_TEXT.strip().split("\n\n")]
WIKI_WORDS = (60, 120)


# ---------------------------------------------------------------------------
# Writing and checking
# ---------------------------------------------------------------------------

def write_jsonl(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: Path, keys: tuple[str, ...]) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(line)
        assert isinstance(row, dict) and tuple(row) == keys, f"{path.name}:{n}: keys {list(row)}"
        assert all(isinstance(v, str) for v in row.values()), f"{path.name}:{n}: non-string value"
        rows.append(row)
    return rows


def _stats(values: list[int]) -> str:
    return f"mean {statistics.mean(values):.1f}, min {min(values)}, max {max(values)}"


def _words(text: str) -> int:
    return len(text.split())


def check() -> None:
    """Re-read every file, assert its shape and invariants, and print counts and lengths."""
    alpaca, pref = ("instruction", "input", "output"), ("prompt", "chosen", "rejected")

    reviews = read_jsonl(HERE / "reviews.jsonl", alpaca)
    train = read_jsonl(HERE / "reviews-train.jsonl", alpaca)
    test = read_jsonl(HERE / "reviews-test.jsonl", alpaca)
    assert len(reviews) == 3 * REVIEWS_PER_LABEL and reviews == train + test
    assert len(test) == 3 * REVIEW_TEST_PER_LABEL
    assert len({r["input"] for r in reviews}) == len(reviews), "duplicate review"
    assert all(r["instruction"] == REVIEW_INSTRUCTION and r["output"] in LABELS for r in reviews)
    for name, rows in (("all", reviews), ("train", train), ("test", test)):
        print(f"reviews {name}: {len(rows)} rows, labels {dict(sorted(Counter(r['output'] for r in rows).items()))}")
    input_words = [_words(r["input"]) for r in reviews]
    total_words = [_words(r["instruction"]) + _words(r["input"]) + 1 for r in reviews]
    sentences = [len(re.findall(r"[.!?](?:\s|$)", r["input"].replace("a.m.", "am"))) for r in reviews]
    print(f"  input words: {_stats(input_words)}")
    print(f"  instruction+input words: {_stats([t - 1 for t in total_words])}")
    print(f"  instruction+input+output words: {_stats(total_words)}")
    print(f"  sentences per input: {_stats(sentences)}")
    assert 2 <= min(sentences) and max(sentences) <= 4

    identity = read_jsonl(HERE / "identity.jsonl", alpaca)
    assert len({r["instruction"] for r in identity}) == len(identity), "duplicate identity question"
    assert all(r["input"] == "" and "{{name}}" in r["output"] for r in identity)
    chinese = sum(bool(re.search(r"[\u4e00-\u9fff]", r["instruction"])) for r in identity)
    print(f"identity: {len(identity)} rows ({len(identity) - chinese} English, {chinese} Chinese), "
          f"{sum('{{author}}' in r['output'] for r in identity)} mention {{{{author}}}}")

    prefs = read_jsonl(HERE / "concise-preference.jsonl", pref)
    ptrain = read_jsonl(HERE / "concise-preference-train.jsonl", pref)
    ptest = read_jsonl(HERE / "concise-preference-test.jsonl", pref)
    assert prefs == ptrain + ptest and len(ptest) == PREF_TEST
    assert len({r["prompt"] for r in prefs}) == len(prefs), "duplicate prompt"
    assert len({r["chosen"] for r in prefs}) == len(prefs), "duplicate chosen"
    chosen = [_words(r["chosen"]) for r in prefs]
    rejected = [_words(r["rejected"]) for r in prefs]
    assert CHOSEN_WORDS[0] <= min(chosen) and max(chosen) <= CHOSEN_WORDS[1]
    assert REJECTED_WORDS[0] <= min(rejected) and max(rejected) <= REJECTED_WORDS[1]
    print(f"concise-preference: {len(prefs)} pairs (train {len(ptrain)}, test {len(ptest)})")
    print(f"  chosen words: {_stats(chosen)}")
    print(f"  rejected words: {_stats(rejected)}")

    feedback = [json.loads(line) for line in (HERE / "concise-feedback.jsonl").read_text(encoding="utf-8").splitlines()]
    ftrain = [json.loads(line) for line in (HERE / "concise-feedback-train.jsonl").read_text(encoding="utf-8").splitlines()]
    ftest = [json.loads(line) for line in (HERE / "concise-feedback-test.jsonl").read_text(encoding="utf-8").splitlines()]
    assert feedback == ftrain + ftest and len(ftest) == PREF_TEST
    assert all(tuple(r) == ("prompt", "completion", "label") and isinstance(r["label"], bool) for r in feedback)
    assert [r["prompt"] for r in feedback] == [r["prompt"] for r in prefs], "one row per question, in the pairs' order"
    assert all(r["completion"] == p["chosen" if r["label"] else "rejected"] for r, p in zip(feedback, prefs))
    for rows in (ftrain, ftest):
        assert 2 * sum(r["label"] for r in rows) == len(rows), "half good, half bad"
    print(f"concise-feedback: {len(feedback)} rows (train {len(ftrain)}, test {len(ftest)}), "
          f"{sum(r['label'] for r in feedback)} good, {sum(not r['label'] for r in feedback)} bad")

    paragraphs = (HERE / "wiki-snippets.txt").read_text(encoding="utf-8").strip().split("\n\n")
    lengths = [_words(p) for p in paragraphs]
    assert len(set(paragraphs)) == len(paragraphs)
    assert WIKI_WORDS[0] <= min(lengths) and max(lengths) <= WIKI_WORDS[1], lengths
    print(f"wiki-snippets: {len(paragraphs)} paragraphs, words {_stats(lengths)}, total {sum(lengths)}")


def main() -> None:
    reviews = build_reviews(random.Random(SEED))
    split = 3 * (REVIEWS_PER_LABEL - REVIEW_TEST_PER_LABEL)
    write_jsonl(HERE / "reviews.jsonl", reviews)
    write_jsonl(HERE / "reviews-train.jsonl", reviews[:split])
    write_jsonl(HERE / "reviews-test.jsonl", reviews[split:])

    write_jsonl(HERE / "identity.jsonl", build_identity(random.Random(SEED + 1)))

    prefs = build_preference(random.Random(SEED + 2))
    write_jsonl(HERE / "concise-preference.jsonl", prefs)
    write_jsonl(HERE / "concise-preference-train.jsonl", prefs[:-PREF_TEST])
    write_jsonl(HERE / "concise-preference-test.jsonl", prefs[-PREF_TEST:])

    feedback = build_feedback(random.Random(SEED + 3), prefs)
    write_jsonl(HERE / "concise-feedback.jsonl", feedback)
    write_jsonl(HERE / "concise-feedback-train.jsonl", feedback[:-PREF_TEST])
    write_jsonl(HERE / "concise-feedback-test.jsonl", feedback[-PREF_TEST:])

    (HERE / "wiki-snippets.txt").write_text("\n\n".join(WIKI) + "\n", encoding="utf-8", newline="\n")
    check()


if __name__ == "__main__":
    main()
