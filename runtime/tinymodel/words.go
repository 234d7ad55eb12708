package tinymodel

// words are the normal vocabulary pieces, roughly in order of English
// frequency so the SentencePiece scores (higher merges first) follow it.
// Each becomes "▁word": with only whole words to pick from, whatever the
// random weights sample reads as words.
var words = [...]string{
	"the", "of", "and", "to", "in", "a", "is", "that", "for", "it",
	"as", "was", "with", "be", "by", "on", "not", "he", "this", "are",
	"or", "his", "from", "at", "which", "but", "have", "an", "had", "they",
	"you", "were", "their", "one", "all", "we", "can", "her", "has", "there",
	"been", "if", "more", "when", "will", "would", "who", "so", "no", "she",
	"other", "its", "may", "these", "what", "them", "than", "some", "him", "time",
	"into", "only", "do", "up", "out", "many", "then", "first", "any", "new",
	"could", "also", "two", "like", "our", "now", "me", "about", "over", "such",
	"most", "after", "should", "very", "where", "much", "my", "made", "your", "well",
	"because", "before", "between", "through", "each", "those", "good", "how", "just", "people",
	"year", "way", "day", "man", "thing", "woman", "life", "child", "world", "school",
	"state", "family", "student", "group", "country", "problem", "hand", "part", "place", "case",
	"week", "company", "system", "program", "question", "work", "government", "number", "night", "point",
	"home", "water", "room", "mother", "area", "money", "story", "fact", "month", "lot",
	"right", "study", "book", "eye", "job", "word", "business", "issue", "side", "kind",
	"head", "house", "service", "friend", "father", "power", "hour", "game", "line", "end",
	"member", "law", "car", "city", "community", "name", "president", "team", "minute", "idea",
	"kid", "body", "information", "back", "parent", "face", "others", "level", "office", "door",
	"health", "person", "art", "war", "history", "party", "result", "change", "morning", "reason",
	"research", "girl", "guy", "moment", "air", "teacher", "force", "education", "say", "get",
	"make", "go", "know", "take", "see", "come", "think", "look", "want", "give",
	"use", "find", "tell", "ask", "seem", "feel", "try", "leave", "call", "keep",
	"let", "begin", "help", "talk", "turn", "start", "show", "hear", "play", "run",
	"move", "live", "believe", "hold", "bring", "happen", "write", "provide", "sit", "stand",
	"lose", "pay", "meet", "include", "continue", "set", "learn", "lead", "understand", "watch",
	"follow", "stop", "create", "speak", "read", "allow", "add", "spend", "grow", "open",
	"walk", "win", "offer", "remember", "love", "consider", "appear", "buy", "wait", "serve",
	"die", "send", "expect", "build", "stay", "fall", "cut", "reach", "kill", "remain",
	"warm", "great", "little", "own", "old", "big", "high", "different", "small", "large",
	"next", "early", "young", "important", "few", "public", "bad", "same", "able", "last",
	"long", "late", "hard", "major", "better", "economic", "strong", "possible", "whole", "free",
	"military", "true", "federal", "international", "full", "special", "easy", "clear", "recent", "certain",
	"personal", "soft", "red", "difficult", "available", "likely", "short", "single", "medical", "current",
	"wrong", "private", "past", "foreign", "fine", "common", "poor", "natural", "significant", "similar",
	"hot", "dead", "central", "happy", "serious", "ready", "simple", "left", "physical", "general",
	"green", "blue", "quiet", "river", "mountain", "garden", "window", "bread", "music", "light",
}
