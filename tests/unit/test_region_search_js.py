"""The search's answer on the page (static/js/region_search.js), in Node: its sentences beside the
user's mask, the challenge's score, the bests kept per photo, model and fill, the overlay."""

import pytest

from tests.js import needs_node, run_js

pytestmark = needs_node

# Results as /api/search gives them (only the fields the sentences read).
FLIP = """{goal: "flip", found: true, area: 0.06, minimal: false, classifications: 412, class_index: 967,
  label: "espresso", base_probability: 0.94, probability: 0.2,
  predictions: [{class_index: 968, label: "cup", probability: 0.41}]}"""
KEEP = """{goal: "keep", found: true, area: 0.21, minimal: true, classifications: 130, class_index: 967,
  label: "espresso", base_probability: 0.94, probability: 0.88,
  predictions: [{class_index: 967, label: "espresso", probability: 0.88}]}"""
ESPRESSO = '{class_index: 967, label: "espresso", probability: 0.7}'
CUP = '{class_index: 968, label: "cup", probability: 0.5}'


def sentences(body: str):
    return run_js("region_search.js", f"const flip = {FLIP}, keep = {KEEP}, espresso = {ESPRESSO}, cup = {CUP};\n{body}")


def test_areas_read_as_whole_percents_and_small_ones_keep_a_decimal():
    assert run_js("region_search.js", "return [0.38, 0.0996, 0.065, 0.06, 0.004, 1].map(m.areaText);") == [
        "38%", "10%", "6.5%", "6%", "0.4%", "100%"]


def test_a_flip_beside_nothing_painted_a_mask_that_kept_the_class_and_one_that_changed_it():
    out = sentences("""return [m.searchSentence(flip), m.searchSentence(flip, 0.38, espresso),
      m.searchSentence(flip, 0.38, cup), m.searchSentence(flip, 0.04, cup), m.searchSentence(flip, 0.0601, cup),
      m.searchSentence({...flip, minimal: true})];""")
    searched = " The search's answer is the smallest it found in 412 classifications."
    assert out[0] == "Hiding these 6% turns “espresso” into “cup” (41%)." + searched
    assert out[1] == "You hid 38% and it still says “espresso”; hiding these 6% turns it into “cup” (41%)." + searched
    assert out[2] == "You hid 38% and it already says “cup”; hiding only these 6% turns it into “cup” (41%)." + searched
    assert out[3] == ("You hid 4% and it already says “cup”: less than the 6% the search needed to turn it into "
                      "“cup” (41%)." + searched)
    assert out[4] == ("You hid 6% and it says “cup”: as little as the search's answer, which turns it into “cup” "
                      "(41%)." + searched)
    assert out[5].endswith(" The search's answer is the smallest possible with these regions.")


def test_a_keep_and_searches_that_found_nothing():
    out = sentences("""return [m.searchSentence(keep), m.searchSentence(keep, 0.38, espresso),
      m.searchSentence({...flip, found: false}), m.searchSentence({...keep, found: false, classifications: 2000})];""")
    assert out[0] == ("Keeping only these 21% (everything else hidden), it still says “espresso” at 88% (94% on the "
                      "whole photo). The search's answer is the smallest possible with these regions.")
    assert out[1].startswith("You hid 38% and it still says “espresso”; keeping only these 21% (everything else")
    assert out[2] == "Nothing the search tried within 412 classifications changed its mind: “espresso” stayed on top."
    assert out[3] == ("Nothing the search tried within 2000 classifications kept “espresso” on top at 90% of its "
                      "confidence with everything else hidden.")


def test_the_challenge_scores_a_mask_that_changed_its_mind_against_the_search():
    out = sentences("""const base = espresso;
      return [m.challengeSentence({base, now: espresso, painted: 0, flip: null, best: null}),
              m.challengeSentence({base, now: espresso, painted: 0.2, flip, best: 0.09}),
              m.challengeSentence({base, now: cup, painted: 0.12, flip, best: 0.09}),
              m.challengeSentence({base, now: cup, painted: 0.05, flip, best: 0.05}),
              m.challengeSentence({base, now: cup, painted: 0.06, flip, best: 0.06}),
              m.challengeSentence({base, now: cup, painted: 0.06, flip, best: null, ownAnswer: true}),
              m.challengeSentence({base, now: cup, painted: 0.3, flip: {...flip, found: false}, best: 0.3})];""")
    assert out[0] == "Hide as little as you can to change its mind about “espresso”. The search is looking for its own answer…"
    assert out[1] == ("Hide as little as you can to change its mind about “espresso”. The search needed 6%. "
                      "Your best on this photo: 9%.")
    assert out[2] == "You changed its mind hiding 12%; the search needed 6%. Your best on this photo: 9%."
    assert out[3] == "You changed its mind hiding 5%; the search needed 6%. Less than the search! Your best on this photo: 5%."
    assert out[4].endswith("the search needed 6%. As little as the search! Your best on this photo: 6%.")
    assert out[5].startswith("That is the search's own answer: paint your own to score.")
    assert out[6] == "You changed its mind hiding 30%; the search found no way. Your best on this photo: 30%."


def test_the_best_is_the_smallest_per_photo_model_and_fill_and_lives_in_the_storage():
    out = run_js("region_search.js", """
      const store = new Map();
      const storage = {getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v)};
      const bests = new m.Bests(storage);
      const coffee = {imageId: "abc", model: "lite0", fill: "gray"};
      const steps = [bests.get(coffee), bests.offer(coffee, 0.2), bests.offer(coffee, 0.3), bests.offer(coffee, 0.1),
                     bests.get({...coffee, fill: "blur"}), bests.get({...coffee, model: "resnet50"})];
      const again = new m.Bests(storage).get(coffee);  // a reloaded page reads it back
      const refusing = new m.Bests({getItem: () => { throw new Error("denied"); }, setItem: () => { throw new Error("denied"); }});
      return {steps, again, keys: [...store.keys()], refused: [refusing.get(coffee), refusing.offer(coffee, 0.4)]};""")
    assert out["steps"] == [None, {"best": 0.2, "improved": True}, {"best": 0.2, "improved": False},
                            {"best": 0.1, "improved": True}, None, None]
    assert out["again"] == 0.1 and out["keys"] == ["maskscope-challenge:abc:lite0:gray"]
    assert out["refused"] == [None, {"best": 0.4, "improved": True}], "a storage that refuses loses the best, no error"


@pytest.mark.parametrize("keep", [False, True])
def test_the_overlay_tints_what_the_sentence_names_with_a_solid_edge(keep):
    out = run_js("region_search.js", f"""
      const w = 8, h = 5, row = [0, 1, 1, 1, 1, 1, 1, 0];  // five such rows: the middle one is read
      const px = m.overlayPixels(Uint8Array.from([...row, ...row, ...row, ...row, ...row]), w, h,
                                 {str(keep).lower()}, [1, 2, 3]);
      const at = (x) => (2 * w + x) * 4;
      return Array.from({{length: w}}, (_, x) => px[at(x) + 3]).concat(Array.from(px.slice(at(1), at(1) + 3)));""")
    alpha, colour = out[:8], out[8:]
    if keep:  # what it keeps: the two ends, edges themselves
        assert [a > 0 for a in alpha] == [True, False, False, False, False, False, False, True]
    else:  # what it hides: its own two outer pixels each side solid, the middle tinted
        assert alpha[0] == alpha[7] == 0 and alpha[1] == alpha[2] == alpha[5] == alpha[6] == 255
        assert 0 < alpha[3] < 255 and alpha[3] == alpha[4]
        assert colour == [1, 2, 3]
