package guard

import "strings"

// class is what a word means to the guard.
type class uint8

const (
	classContent  class = iota // anything not listed: compared as a content word
	classScaffold              // question and request scaffolding: ignored
	classNegation              // its presence must match
	classNumber                // a written cardinal: value in entry.num
	classScale                 // hundred, thousand...: multiplies the number before it
	classOrdinal               // first, 2nd...: value in entry.val ("#2")
	classPosition              // last, next...: compared with ordinals
	classFraction              // half, quarter: value in entry.val
	classUnit                  // canonical unit in entry.val
	classDate                  // month, weekday, relative day, season: canonical in entry.val
	classWh                    // who, when, where, why: the kind of answer asked for
	classOp                    // arithmetic operator: canonical in entry.val
	classConvert               // conversion verb: makes "to X" the target (also a content word)
	classThan                  // "than": the word after it is the compared object
	classTo                    // "to", "into": may introduce a conversion target
	classIn                    // "in": may introduce a unit target ("100 F in Celsius")
	classHowMany               // "many", "much": after "how", the next unit is the target
	classTense                 // was, did, will...: past or future, in entry.val
	classPerson                // my, your, he, she, they...: whose, in entry.val
	classQuant                 // all, some, few, both: how many, in entry.val
)

// entry is a lexicon record.
type entry struct {
	class class
	// val is the canonical form for units, dates, ordinals, fractions and
	// operators.
	val string
	// num is a written cardinal's value.
	num float64
	// flags refine the class.
	flags uint8
	// alt is the class of a flagNeedsNumber word when it does not count
	// ("may" the modal verb is scaffolding, "march" the verb content).
	alt class
}

const (
	// flagNeedsNumber marks operators that are also plain words ("times",
	// "over", "x"), which count only between two numbers, and month names
	// that are also words ("may", "march"), which count only capitalised
	// mid-sentence or next to a number.
	flagNeedsNumber uint8 = 1 << iota
	// flagAmbiguousOrdinal marks "second", a time unit after a number.
	flagAmbiguousOrdinal
	// flagSquare marks "squared" and "cubed": an operator with an implied
	// exponent (x^2 == x squared), arithmetic even without a digit.
	flagSquare
	// flagCommonStart marks words that start sentences as plain words, so
	// their capital letter there does not make them a named entity.
	flagCommonStart
)

// lexicon maps a lowercase word to its entry. Words not in it are content
// words. It is built once and only read afterwards.
var lexicon = buildLexicon()

// synonyms maps a stemmed content word to the head of its group, so that
// paraphrases with these words still match. Keep groups to true synonyms
// and spelling variants: a group that joins words with different answers
// ("gold", "silver") makes false hits.
var synonyms = buildSynonyms([][]string{
	{"delete", "remove", "erase", "rm"},
	{"quit", "exit"},
	{"combine", "merge", "join", "concatenate", "concat"},
	{"author", "write", "wrote", "written", "writer"},
	{"tall", "height", "high"},
	{"dict", "dictionary"},
	{"directory", "folder", "dir"},
	{"update", "upgrade"},
	{"big", "large"},
	{"bigger", "larger", "greater"},
	{"biggest", "largest", "greatest"},
	{"tiny", "small"},
	{"difference", "different", "differ", "differs", "differently"},
	{"summary", "summarize", "summarise", "synopsis"},
	{"calculate", "compute", "formula"},
	{"stand", "short", "abbreviation", "acronym"},
	{"convert", "turn", "change", "transform", "conversion"},
	{"speak", "spoken", "spoke"},
	{"paint", "painter", "painted"},
	{"discover", "discoverer", "discovery"},
	{"invent", "inventor", "invention"},
	{"kill", "terminate"},
	{"run", "execute", "ran"},
	{"start", "begin", "began", "begun"},
	{"buy", "purchase", "bought"},
	{"fix", "repair"},
	{"picture", "image", "photo", "pic"},
	{"computer", "pc"},
	{"app", "application"},
	{"program", "programme"},
	{"string", "str"},
	{"integer", "int"},
	{"boolean", "bool"},
	{"variable", "var"},
	{"javascript", "js"},
	{"typescript", "ts"},
	{"python", "py"},
	{"kubernetes", "k8s"},
	{"postgres", "postgresql"},
	{"go", "golang"},
	{"recommend", "recommendation", "suggest", "suggestion"},
	{"center", "centre"},
	{"color", "colour"},
	{"favorite", "favourite"},
	{"optimize", "optimise"},
	{"organize", "organise"},
	{"analyze", "analyse"},
	{"license", "licence"},
	{"gray", "grey"},
	{"car", "automobile"},
	{"child", "kid", "children"},
})

func buildSynonyms(groups [][]string) map[string]string {
	m := make(map[string]string)
	for _, g := range groups {
		head := stem(g[0])
		for _, w := range g {
			m[stem(w)] = head
		}
	}
	return m
}

func buildLexicon() map[string]entry {
	m := make(map[string]entry, 1024)
	set := func(c class, flags uint8, words string) {
		for _, w := range strings.Fields(words) {
			m[w] = entry{class: c, flags: flags}
		}
	}
	setVal := func(c class, flags uint8, pairs ...string) {
		for i := 0; i+1 < len(pairs); i += 2 {
			for _, w := range strings.Fields(pairs[i]) {
				m[w] = entry{class: c, val: pairs[i+1], flags: flags}
			}
		}
	}

	// Scaffolding: words that shape the question, not its answer. Left
	// out on purpose: particles that flip meaning (up, down, out, off),
	// comparatives (more, less, better), "show", "good", "bad", "long".
	set(classScaffold, flagCommonStart, `
		a an the this that these those any either
		i me you we us it its itself one's someone somebody something anything
		everything anyone everyone there here
		of in on at for with by from about into onto during via using through
		within among between across along as like such
		and or but if whether so then also just too very really quite
		is are be been being am do does doing done
		have has having can could should would may might must
		need needs needed want wants wanted let lets let's wanna gonna going
		what what's whats which how how's
		please explain describe tell give gives know help helps
		mean means meaning meant define definition purpose
		way ways method methods thing things stuff kind kinds
		use uses used using get gets got getting find finds found see sees saw check checks
		look looks seem seems appear appears make makes made making
		possible possibly exactly actually correctly properly basically simply
		number numbers value values word words term terms together now again
		ok okay hi hello hey thanks thank`)
	// Tense, whose and how many: scaffolding that still changes answers
	// ("Who is the CEO" vs "Who was the CEO", "my IP" vs "your IP", "all
	// birds" vs "some birds").
	setVal(classTense, flagCommonStart, "was were did had", "past", "will shall", "future")
	setVal(classPerson, flagCommonStart, "my mine myself our ours ourselves", "1st",
		"your yours yourself yourselves", "2nd", "he him his himself", "he",
		"she her hers herself", "she", "they them their theirs themselves", "they")
	setVal(classQuant, flagCommonStart, "all every each per", "all", "some several", "some",
		"few", "few", "both", "both")

	set(classNegation, 0, `not no never none nobody nothing neither nor nowhere
		without cannot non dont doesnt didnt isnt arent wasnt werent cant
		couldnt wouldnt shouldnt wont hasnt havent hadnt aint mustnt neednt`)

	for i, w := range strings.Fields(`zero one two three four five six seven eight nine ten
		eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen`) {
		m[w] = entry{class: classNumber, num: float64(i)}
	}
	for i, w := range strings.Fields(`twenty thirty forty fifty sixty seventy eighty ninety`) {
		m[w] = entry{class: classNumber, num: float64(20 + 10*i)}
	}
	m["dozen"] = entry{class: classNumber, num: 12}
	m["twice"] = entry{class: classNumber, num: 2}
	for w, v := range map[string]float64{"hundred": 1e2, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12} {
		m[w] = entry{class: classScale, num: v}
	}
	ordinals := strings.Fields(`first second third fourth fifth sixth seventh eighth ninth tenth
		eleventh twelfth thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth
		nineteenth twentieth`)
	for i, w := range ordinals {
		m[w] = entry{class: classOrdinal, val: "#" + itoa(i+1)}
	}
	m["second"] = entry{class: classOrdinal, val: "#2", flags: flagAmbiguousOrdinal}
	for i, w := range strings.Fields(`thirtieth fortieth fiftieth sixtieth seventieth eightieth ninetieth`) {
		m[w] = entry{class: classOrdinal, val: "#" + itoa(30+10*i)}
	}
	setVal(classOrdinal, 0, "hundredth", "#100", "thousandth", "#1000", "millionth", "#1000000")
	setVal(classPosition, 0, "last final", "#last", "next", "#next", "previous prev preceding", "#prev",
		"penultimate", "#penultimate")
	setVal(classFraction, 0, "half halves", "0.5", "quarter quarters", "0.25", "thirds", "#3")

	// Units. Ambiguous short forms only count next to a number.
	setVal(classUnit, 0,
		"millimeter millimeters millimetre millimetres mm", "mm",
		"centimeter centimeters centimetre centimetres cm", "cm",
		"meter meters metre metres", "m",
		"kilometer kilometers kilometre kilometres km kms", "km",
		"inch inches", "in",
		"foot feet ft", "ft",
		"yard yards yd yds", "yd",
		"mile miles mi", "mi",
		"milligram milligrams mg", "mg",
		"gram grams", "g",
		"kilogram kilograms kilo kilos kg kgs", "kg",
		"pound pounds lb lbs", "lb",
		"ounce ounces oz", "oz",
		"ton tons tonne tonnes", "t",
		"stone stones", "st",
		"milliliter milliliters millilitre millilitres ml", "ml",
		"liter liters litre litres", "l",
		"gallon gallons gal", "gal",
		"quart quarts qt", "qt",
		"pint pints pt", "pt",
		"cup cups", "cup",
		"tablespoon tablespoons tbsp", "tbsp",
		"teaspoon teaspoons tsp", "tsp",
		"celsius centigrade", "°c",
		"fahrenheit", "°f",
		"kelvin", "k",
		"degree degrees", "deg",
		"radian radians rad", "rad",
		"millisecond milliseconds ms", "ms",
		"seconds secs", "s",
		"minute minutes mins", "min",
		"hour hours hr hrs", "h",
		"day days", "day",
		"week weeks", "week",
		"fortnight fortnights", "fortnight",
		"month months", "month",
		"year years yr yrs", "year",
		"decade decades", "decade",
		"century centuries", "century",
		"bit bits", "bit",
		"byte bytes", "byte",
		"kilobyte kilobytes kb", "kb",
		"megabyte megabytes mb", "mb",
		"gigabyte gigabytes gb", "gb",
		"terabyte terabytes tb", "tb",
		"kib", "kib", "mib", "mib", "gib", "gib",
		"mph", "mph", "kph kmh", "km/h", "knot knots", "kn",
		"calorie calories cal kcal", "kcal",
		"joule joules", "j", "kilojoule kilojoules kj", "kj",
		"watt watts", "w", "kilowatt kilowatts kw", "kw", "kwh", "kwh",
		"volt volts", "v", "amp amps ampere amperes", "a",
		"hz hertz", "hz", "khz", "khz", "mhz", "mhz", "ghz", "ghz",
		"acre acres", "acre", "hectare hectares", "ha",
		"psi", "psi", "bar bars", "bar", "pascal pascals", "pa",
		"percent percentage pct", "%",
		"dollar dollars usd bucks", "$",
		"euro euros eur", "€",
		"sterling gbp", "£",
		"yen jpy", "¥",
		"rupee rupees inr", "inr",
		"bitcoin bitcoins btc", "btc",
	)
	// Dates and times.
	for _, w := range strings.Fields("january february april june july september october november december") {
		m[w] = entry{class: classDate, val: w}
	}
	m["may"] = entry{class: classDate, val: "may", flags: flagNeedsNumber, alt: classScaffold}
	m["march"] = entry{class: classDate, val: "march", flags: flagNeedsNumber, alt: classContent}
	m["mar"] = entry{class: classDate, val: "march", flags: flagNeedsNumber, alt: classContent}
	m["august"] = entry{class: classDate, val: "august", flags: flagNeedsNumber, alt: classContent}
	setVal(classDate, 0, "jan", "january", "feb", "february", "apr", "april", "jun", "june",
		"jul", "july", "aug", "august", "sep sept", "september", "oct", "october", "nov", "november",
		"dec", "december")
	setVal(classDate, 0,
		"monday mon", "monday", "tuesday tue tues", "tuesday", "wednesday wed", "wednesday",
		"thursday thu thur thurs", "thursday", "friday fri", "friday", "saturday", "saturday",
		"sunday", "sunday", "today", "today", "tomorrow", "tomorrow", "yesterday", "yesterday",
		"tonight", "tonight", "weekend weekends", "weekend", "weekday weekdays", "weekday",
		"morning mornings", "morning", "afternoon", "afternoon", "evening evenings", "evening",
		"night nights", "night", "noon midday", "12:00", "midnight", "0:00",
		"spring", "spring", "summer summers", "summer", "autumn", "autumn", "winter winters", "winter",
		"christmas", "christmas", "easter", "easter", "halloween", "halloween",
		"utc gmt", "utc", "bc bce", "bc")

	set(classWh, 0, "who whom whose when where why who's where's when's why's")

	setVal(classOp, 0,
		"plus add added adding sum", "+",
		"minus subtract subtracted subtracting", "-",
		"multiplied multiply multiplying", "*",
		"divided divide dividing", "/",
		"power powers exponent", "^",
		"root sqrt", "sqrt",
		"modulo mod remainder", "mod",
		"factorial", "!",
		"log logarithm ln", "log",
	)
	// Always arithmetic, with an implied exponent: x^2 == x squared.
	setVal(classOp, flagSquare, "squared", "^2", "cubed", "^3")
	for w, v := range map[string]string{"times": "*", "x": "*", "over": "/"} {
		m[w] = entry{class: classOp, val: v, flags: flagNeedsNumber, alt: classContent}
	}

	set(classConvert, flagCommonStart, `convert converts converted converting conversion turn turns turning
		change changes changing cast casts casting transform transforms transforming
		translate translates translating translation`)
	set(classThan, 0, "than")
	set(classTo, 0, "to into")
	m["in"] = entry{class: classIn}
	set(classHowMany, 0, "many much")

	// Words that commonly start a sentence without being names: their
	// capital letter there does not make them a named entity. Every word
	// with a class other than content is such a word already.
	for _, w := range strings.Fields(`write compose create make translate calculate compute
		summarize summarise list name sort fix debug refactor rewrite implement install
		run build start stop open close read remove delete add set send recommend
		suggest compare generate draft print return select explain imagine suppose
		assume consider wake remind tell show go give`) {
		e := m[w]
		e.flags |= flagCommonStart
		m[w] = e
	}
	return m
}

// afterNumber maps unit spellings that count only right after a number
// ("5 m", "10 s", "3 pm") to their canonical unit. Units of the lexicon
// count there too.
var afterNumber = map[string]string{
	"m": "m", "g": "g", "l": "l", "s": "s", "sec": "s", "second": "s",
	"min": "min", "h": "h", "w": "w", "k": "k", "c": "°c", "f": "°f", "v": "v",
	"am": "am", "pm": "pm",
}

// attachedUnits maps spellings that count as units only when written onto
// the number ("5in", "3d"): with a space they are ordinary words.
var attachedUnits = map[string]string{
	"in": "in", "d": "day", "t": "t", "b": "byte", "a": "a", "x": "x",
}

// itoa formats small non-negative integers for the lexicon's canonical
// values.
func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
