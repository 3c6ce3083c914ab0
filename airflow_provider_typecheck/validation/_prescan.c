/*
 * The native pre-scan: one pass over a CSV's bytes that clears the rows it can
 * prove valid, without building a frame of text.
 *
 * It is a filter, never a judge. A row it calls clean satisfies the schema
 * under the typing contract (cells.py); every other row is a suspect, handed
 * with its exact bytes to the Polars engine, which gives the verdicts and the
 * messages. So each check here only needs to be sure when it says "valid":
 * anything unusual (a 19-digit integer, an escaped quote, a float that
 * python-jsonschema might call an integer) makes the row a suspect.
 *
 * When the file's shape could make Polars read it otherwise than this scan
 * does (a row too long or blank, a quote inside an unquoted field, a stray CR,
 * bytes that are not UTF-8), the scan gives up with NotScannable and the
 * caller reads the file the ordinary way. A row too short is one suspect,
 * flagged RAGGED_MARK(its field count).
 *
 * Columns are checked in one of three ways:
 *   ANY     only the empty-cell verdict matters (no constraint on values);
 *   NATIVE  type, numeric bounds, string lengths, format email/date, here;
 *   DICT    any subschema: distinct texts are interned, the caller judges
 *           each distinct text once (python-jsonschema), rows are looked up.
 *
 * Work is split in byte ranges over threads, with the GIL released. A range
 * starts after a newline; when a quoted field spans the split, the first
 * range's true end differs from the next range's guessed start, and the next
 * range is scanned again from the true end.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum { MODE_ANY = 0, MODE_NATIVE = 1, MODE_DICT = 2 };
enum { FMT_NONE = 0, FMT_EMAIL = 1, FMT_DATE = 2 };

#define MAX_THREADS 16
#define NO_CODE UINT32_MAX
/* The flagged "column" of a row with fewer fields than the header's: -1 - its field count. */
#define RAGGED_MARK(fields) (-1 - (int)(fields))

typedef struct {
    int mode;
    int empty_ok;
    int bools;  /* true/false spellings are booleans in this column */
    int true_ok, false_ok;
    int numeric; /* numerals are numbers in this column */
    int int_ok, float_ok, string_ok;
    int has_min, min_excl, has_max, max_excl;
    double min, max;
    long long min_len, max_len; /* -1: none */
    int fmt;
    int dict_slot; /* index among DICT columns */
} Column;

/* ---------------------------------------------------------------- interning */

typedef struct {
    uint64_t hash;
    uint64_t offset; /* into arena */
    uint32_t length;
    uint32_t code;
} Slot;

typedef struct {
    Slot *slots;
    size_t capacity; /* power of two; 0 = empty table */
    size_t count;
    char *arena;
    size_t arena_used, arena_capacity;
    uint64_t *offsets; /* per code: arena offset */
    uint32_t *lengths;
    size_t codes_capacity;
} Interned;

static uint64_t hash_bytes(const unsigned char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
    h ^= h >> 32;
    return h;
}

static void interned_free(Interned *t) {
    free(t->slots);
    free(t->arena);
    free(t->offsets);
    free(t->lengths);
    memset(t, 0, sizeof(*t));
}

#define INITIAL_SLOTS 16

/* The code of this text, interning it if new; NO_CODE when out of memory or past `limit` texts. */
static uint32_t intern(Interned *t, const unsigned char *p, size_t n, size_t limit) {
    if (t->capacity == 0) {
        /* Small at first, doubling: a wide schema's short file has thousands of interned
         * columns of a few texts each, and 2,000 tables of 1,024 slots cost 50 MiB of zeroed pages. */
        t->slots = calloc(INITIAL_SLOTS, sizeof(Slot));
        if (!t->slots) return NO_CODE;
        t->capacity = INITIAL_SLOTS;
    }
    uint64_t h = hash_bytes(p, n);
    size_t mask = t->capacity - 1, i = (size_t)h & mask;
    /* A slot holds code + 1, so an all-zero slot is an empty one. */
    for (; t->slots[i].code; i = (i + 1) & mask) {
        Slot *s = &t->slots[i];
        if (s->hash == h && s->length == n && memcmp(t->arena + s->offset, p, n) == 0) return s->code - 1;
    }
    if (t->count >= limit || t->count >= NO_CODE - 1) return NO_CODE;
    if (t->arena_used + n > t->arena_capacity) {
        size_t capacity = t->arena_capacity ? t->arena_capacity * 2 : 1024;
        while (capacity < t->arena_used + n) capacity *= 2;
        char *arena = realloc(t->arena, capacity);
        if (!arena) return NO_CODE;
        t->arena = arena;
        t->arena_capacity = capacity;
    }
    if (t->count == t->codes_capacity) {
        size_t capacity = t->codes_capacity ? t->codes_capacity * 2 : INITIAL_SLOTS;
        uint64_t *offsets = realloc(t->offsets, capacity * sizeof(uint64_t));
        if (!offsets) return NO_CODE;
        t->offsets = offsets;
        uint32_t *lengths = realloc(t->lengths, capacity * sizeof(uint32_t));
        if (!lengths) return NO_CODE;
        t->lengths = lengths;
        t->codes_capacity = capacity;
    }
    uint32_t code = (uint32_t)t->count;
    memcpy(t->arena + t->arena_used, p, n);
    t->slots[i] = (Slot){h, t->arena_used, (uint32_t)n, code + 1};
    t->offsets[code] = t->arena_used;
    t->lengths[code] = (uint32_t)n;
    t->arena_used += n;
    t->count++;
    if (t->count * 2 > t->capacity) { /* keep the table at most half full */
        size_t capacity = t->capacity * 2;
        Slot *slots = calloc(capacity, sizeof(Slot));
        if (!slots) return NO_CODE;
        for (size_t j = 0; j < t->capacity; j++) {
            if (!t->slots[j].code) continue;
            size_t k = (size_t)t->slots[j].hash & (capacity - 1);
            while (slots[k].code) k = (k + 1) & (capacity - 1);
            slots[k] = t->slots[j];
        }
        free(t->slots);
        t->slots = slots;
        t->capacity = capacity;
    }
    return code;
}

/* ---------------------------------------------------------------- one range */

typedef struct {
    /* input */
    const unsigned char *data;
    size_t begin, end; /* records starting before `end` are scanned whole */
    size_t size;       /* of the whole buffer */
    int final;         /* the buffer ends the file: a last record may lack its newline */
    const Column *columns;
    int ncols, ndict;
    unsigned char delimiter;
    int crlf;
    size_t dict_limit;
    /* output */
    size_t stop;       /* where the last record scanned ends */
    int incomplete;    /* the buffer ended inside a record (not final) */
    size_t rows, capacity;
    uint64_t *starts;  /* per row: offset of its first byte */
    uint64_t *flagged; /* (row << 32 | column) of each cell that made its row a suspect, in order */
    size_t nflagged, flagged_capacity;
    uint32_t *codes;   /* per row, per DICT column: rows * ndict */
    Interned *dicts;   /* ndict tables */
    int file_changed;  /* a page of the mapped file was gone: the file shrank under the scan */
    const char *failure; /* NotScannable reason, or NULL */
    size_t failure_at;
    int out_of_memory;
} Range;

static int grow(Range *r) {
    /* The first rows' DICT codes stay small on a wide schema: 2,000 interned columns x 65,536 rows
     * would be 512 MiB before the first row. */
    size_t first = r->ndict ? 65536 / (size_t)r->ndict : 65536;
    size_t capacity = r->capacity ? r->capacity * 2 : (first < 64 ? 64 : first);
    uint64_t *starts = realloc(r->starts, capacity * sizeof(uint64_t));
    if (!starts) return 0;
    r->starts = starts;
    if (r->ndict) {
        uint32_t *codes = realloc(r->codes, capacity * r->ndict * sizeof(uint32_t));
        if (!codes) return 0;
        r->codes = codes;
    }
    r->capacity = capacity;
    return 1;
}

static int flag(Range *r, size_t row, int column) {
    if (r->nflagged == r->flagged_capacity) {
        size_t capacity = r->flagged_capacity ? r->flagged_capacity * 2 : 4096;
        uint64_t *flagged = realloc(r->flagged, capacity * sizeof(uint64_t));
        if (!flagged) return 0;
        r->flagged = flagged;
        r->flagged_capacity = capacity;
    }
    r->flagged[r->nflagged++] = (uint64_t)row << 32 | (uint32_t)column;
    return 1;
}

static inline int lower(unsigned char c) { return c | 0x20; }

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* datetime.date.fromisoformat on YYYY-MM-DD, with python-jsonschema's \d{4}-\d{2}-\d{2} shape. */
static int valid_date(const unsigned char *p, size_t n) {
    if (n != 10 || p[4] != '-' || p[7] != '-') return 0;
    static const int at[8] = {0, 1, 2, 3, 5, 6, 8, 9};
    for (int i = 0; i < 8; i++)
        if (p[at[i]] < '0' || p[at[i]] > '9') return 0;
    int year = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
    int month = (p[5] - '0') * 10 + (p[6] - '0');
    int day = (p[8] - '0') * 10 + (p[9] - '0');
    static const int days[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (year < 1 || month < 1 || month > 12 || day < 1) return 0;
    int last = days[month] + (month == 2 && is_leap(year));
    return day <= last;
}

/* Exponents and fraction lengths up to this are worked out exactly (in 64 bits); past it a numeral is a suspect. */
#define EXPONENT_LIMIT ((uint64_t)1 << 40)

static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int within(const Column *c, double v) {
    if (c->has_min && (c->min_excl ? !(v > c->min) : !(v >= c->min))) return 0;
    if (c->has_max && (c->max_excl ? !(v < c->max) : !(v <= c->max))) return 0;
    return 1;
}

/*
 * 1: the numeral is a number and passes; 0: it is a number and may fail;
 * -1: not a numeral (the cell is a string).
 * The grammar is cells.NUMERAL: [+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?
 */
static int numeral_passes(const Column *c, const unsigned char *p, size_t n) {
    size_t i = 0;
    int negative = 0;
    if (i < n && (p[i] == '+' || p[i] == '-')) negative = p[i++] == '-';
    uint64_t mantissa = 0;
    /* Counts of digits are bounded by the cell's length, a size_t: they cannot wrap. */
    size_t digits = 0, significant = 0, fraction = 0;
    int dot = 0;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++, digits++) {
        if (significant || p[i] != '0') {
            if (significant < 19) mantissa = mantissa * 10 + (uint64_t)(p[i] - '0');
            significant++;
        }
    }
    if (i < n && p[i] == '.') {
        dot = 1;
        for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++, digits++, fraction++) {
            if (significant || p[i] != '0') {
                if (significant < 19) mantissa = mantissa * 10 + (uint64_t)(p[i] - '0');
                significant++;
            }
        }
    }
    if (digits == 0) return -1;
    /* The exponent saturates: past EXPONENT_LIMIT the scale below is not worked out, the cell is a suspect. */
    uint64_t exponent = 0;
    int has_exponent = 0, exponent_negative = 0;
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        size_t j = i + 1;
        if (j < n && (p[j] == '+' || p[j] == '-')) exponent_negative = p[j++] == '-';
        if (j >= n || p[j] < '0' || p[j] > '9') return -1;
        for (; j < n && p[j] >= '0' && p[j] <= '9'; j++) {
            if (exponent <= EXPONENT_LIMIT) exponent = exponent * 10 + (uint64_t)(p[j] - '0');
        }
        has_exponent = 1;
        i = j;
    }
    if (i != n) return -1;
    if (!dot && !has_exponent) {
        /* A Python int. Beyond 2**53 a double comparison is not exact: a suspect. */
        if (!c->int_ok || significant > 15) return 0;
        double v = (double)mantissa;
        return within(c, negative ? -v : v);
    }
    if (!c->float_ok || significant > 15) return 0;
    double v = (double)mantissa;
    if (mantissa != 0) {
        /* Any count past the limit (a saturated exponent, a fraction of 2**40 digits)
         * could put the value anywhere: a suspect, never a guess. */
        if (exponent > EXPONENT_LIMIT || fraction > EXPONENT_LIMIT) return 0;
        /* Clinger's fast path: an exact mantissa below 2**53 and a power of ten up to
         * 1e22 are both exact doubles, so one multiplication or division rounds
         * correctly, to the very double Python's float() gives. */
        int64_t scale = (exponent_negative ? -(int64_t)exponent : (int64_t)exponent) - (int64_t)fraction;
        if (scale < -22 || scale > 22) return 0;
        v = scale < 0 ? v / POW10[-scale] : v * POW10[scale];
    }
    return within(c, negative ? -v : v);
}

/* The cell's verdict: 1 passes, 0 suspect. `chars` counts its code points. */
static int native_passes(const Column *c, const unsigned char *p, size_t n, size_t chars) {
    if (c->bools && (n == 4 || n == 5)) {
        if (n == 4 && lower(p[0]) == 't' && lower(p[1]) == 'r' && lower(p[2]) == 'u' && lower(p[3]) == 'e')
            return c->true_ok;
        if (n == 5 && lower(p[0]) == 'f' && lower(p[1]) == 'a' && lower(p[2]) == 'l' && lower(p[3]) == 's' &&
            lower(p[4]) == 'e')
            return c->false_ok;
    }
    if (c->numeric && n && (p[0] <= '9')) {
        int verdict = numeral_passes(c, p, n);
        if (verdict >= 0) return verdict;
    }
    if (!c->string_ok) return 0;
    if (c->min_len >= 0 && (long long)chars < c->min_len) return 0;
    if (c->max_len >= 0 && (long long)chars > c->max_len) return 0;
    if (c->fmt == FMT_EMAIL) return memchr(p, '@', n) != NULL;
    if (c->fmt == FMT_DATE) return valid_date(p, n);
    return 1;
}

/* Length of the UTF-8 sequence at p (strict: no overlongs, surrogates or > U+10FFFF), 0 if invalid. */
static size_t utf8_sequence(const unsigned char *p, const unsigned char *end) {
    unsigned char c = p[0];
    if (c < 0xC2 || c > 0xF4) return 0;
    size_t n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if ((size_t)(end - p) < n) return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && p[1] < 0xA0) return 0;
    if (c == 0xED && p[1] > 0x9F) return 0;
    if (c == 0xF0 && p[1] < 0x90) return 0;
    if (c == 0xF4 && p[1] > 0x8F) return 0;
    return n;
}

/* The first byte at or after i that is the delimiter, a CR, LF, quote or non-ASCII; size if none. */
static inline size_t next_special(const unsigned char *data, size_t i, size_t size, unsigned char delimiter,
                                  const unsigned char *special) {
#ifdef __SSE2__
    const __m128i d = _mm_set1_epi8((char)delimiter), lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r'),
                  quote = _mm_set1_epi8('"');
    while (i + 16 <= size) {
        __m128i v = _mm_loadu_si128((const __m128i *)(data + i));
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, d), _mm_cmpeq_epi8(v, lf)),
                                   _mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, quote)));
        /* movemask also takes each byte's high bit: non-ASCII bytes stop the run too. */
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_or_si128(hit, v));
        if (mask) return i + (size_t)__builtin_ctz(mask);
        i += 16;
    }
#endif
    while (i < size && !special[data[i]]) i++;
    return i;
}

/* The length of the UTF-8 sequence at i; 0 when it is invalid, -1 when the buffer
 * (not the file's end) may have cut it short. */
static inline long utf8_step(const Range *r, size_t i) {
    size_t n = utf8_sequence(r->data + i, r->data + r->size);
    if (n) return (long)n;
    return !r->final && r->size - i < 4 ? -1 : 0;
}

#define GIVE_UP(why, where)        \
    do {                           \
        r->failure = (why);        \
        r->failure_at = (where);   \
        return;                    \
    } while (0)

static void scan_range(Range *r) {
    const unsigned char *data = r->data;
    const size_t size = r->size;
    const unsigned char delimiter = r->delimiter;
    /* Bytes that end a run of plain field bytes. */
    unsigned char special[256] = {0};
    special[delimiter] = special['\n'] = special['\r'] = special['"'] = 1;
    for (int b = 0x80; b < 256; b++) special[b] = 1;

    size_t at = r->begin, row_start = at;
    while (at < r->end) {
        if (r->rows == r->capacity && !grow(r)) {
            r->out_of_memory = 1;
            return;
        }
        size_t row = r->rows;
        row_start = at;
        size_t field = 0; /* a line of 2**31 fields must not wrap it */
        for (;;) { /* one field */
            const unsigned char *cell;
            size_t length, chars;
            int escaped = 0;
            if (at < size && data[at] == '"') {
                size_t i = at + 1, continuation = 0;
                for (;;) {
                    while (i < size && data[i] != '"' && data[i] < 0x80) i++;
                    if (i >= size) {
                        if (!r->final) goto incomplete;
                        GIVE_UP("a quoted field is not closed", at);
                    }
                    if (data[i] >= 0x80) {
                        long n = utf8_step(r, i);
                        if (n < 0) goto incomplete;
                        if (n == 0) GIVE_UP("bytes that are not UTF-8", i);
                        continuation += (size_t)n - 1;
                        i += (size_t)n;
                        continue;
                    }
                    if (i + 1 < size && data[i + 1] == '"') { /* an escaped quote */
                        escaped = 1;
                        i += 2;
                        continue;
                    }
                    break;
                }
                cell = data + at + 1;
                length = i - at - 1;
                chars = length - continuation;
                at = i + 1;
                if (at < size && data[at] != delimiter && data[at] != '\n' && data[at] != '\r')
                    GIVE_UP("text after a quoted field's closing quote", at);
            } else {
                size_t i = at, continuation = 0;
                for (;;) {
                    i = next_special(data, i, size, delimiter, special);
                    if (i < size && data[i] >= 0x80) {
                        long n = utf8_step(r, i);
                        if (n < 0) goto incomplete;
                        if (n == 0) GIVE_UP("bytes that are not UTF-8", i);
                        continuation += (size_t)n - 1;
                        i += (size_t)n;
                        continue;
                    }
                    break;
                }
                if (i < size && data[i] == '"') GIVE_UP("a quote inside an unquoted field", i);
                cell = data + at;
                length = i - at;
                chars = length - continuation;
                at = i;
            }
            if (field < (size_t)r->ncols) {
                const Column *c = &r->columns[field];
                int flagged = 0;
                if (escaped) {
                    flagged = 1;
                    if (c->mode == MODE_DICT) r->codes[row * r->ndict + c->dict_slot] = NO_CODE;
                } else if (length == 0) {
                    if (!c->empty_ok) flagged = 1;
                    if (c->mode == MODE_DICT) r->codes[row * r->ndict + c->dict_slot] = NO_CODE;
                } else if (c->mode == MODE_NATIVE) {
                    if (!native_passes(c, cell, length, chars)) flagged = 1;
                } else if (c->mode == MODE_DICT && length > UINT32_MAX) {
                    /* Interned texts keep 32-bit lengths: a cell of 4 GiB or more is judged below, whole. */
                    flagged = 1;
                    r->codes[row * r->ndict + c->dict_slot] = NO_CODE;
                } else if (c->mode == MODE_DICT) {
                    uint32_t code = intern(&r->dicts[c->dict_slot], cell, length, r->dict_limit);
                    if (code == NO_CODE) GIVE_UP("a column has too many distinct values", at);
                    r->codes[row * r->ndict + c->dict_slot] = code;
                }
                if (flagged) {
                    if (!flag(r, row, (int)field)) {
                        r->out_of_memory = 1;
                        return;
                    }
                }
            }
            field++;
            if (at >= size) {
                if (!r->final) goto incomplete;
                break; /* the last record, without a newline */
            }
            unsigned char b = data[at];
            if (b == delimiter) {
                at++;
                continue;
            }
            if (b == '\n') {
                if (r->crlf) GIVE_UP("a bare LF in a file whose lines end in CRLF", at);
                at++;
                break;
            }
            /* b == '\r' */
            if (!r->crlf) GIVE_UP("a carriage return in a file whose lines end in LF", at);
            if (at + 1 >= size) {
                if (!r->final) goto incomplete;
                GIVE_UP("a bare CR at the end of the file", at);
            }
            if (data[at + 1] != '\n') GIVE_UP("a bare CR inside a line", at);
            at += 2;
            break;
        }
        if (data[row_start] == '\n' || data[row_start] == '\r') GIVE_UP("a blank line", row_start);
        if (field > (size_t)r->ncols) GIVE_UP("a row with more fields than the header's", row_start);
        if (field < (size_t)r->ncols) {
            /* A short row costs one row: a suspect, marked with its field count (RAGGED_MARK), its
             * missing cells unread. Polars pads it with nulls, as it does reading the whole file. */
            for (int k = (int)field; k < r->ncols; k++)
                if (r->columns[k].mode == MODE_DICT) r->codes[row * r->ndict + r->columns[k].dict_slot] = NO_CODE;
            if (!flag(r, row, RAGGED_MARK(field))) {
                r->out_of_memory = 1;
                return;
            }
        }
        r->starts[row] = row_start;
        r->rows++;
    }
    r->stop = at;
    return;
incomplete:
    /* The buffer ends inside this record: the caller's next buffer starts with it. */
    r->stop = row_start;
    r->incomplete = 1;
}

/* ---------------------------------------------------------------- a file that shrinks under the map */

/*
 * The caller may hand a mapped file. If another process truncates it during the scan, reading a
 * page past the new end raises SIGBUS, which kills the process. Each reading thread sets a jump
 * buffer while it reads the data; the handler jumps back there and the scan raises FileChanged. A
 * SIGBUS anywhere else goes to the handler that was there before (Python's faulthandler, or the
 * default: the process dies as it would have).
 */
static _Thread_local sigjmp_buf *volatile fault_guard; /* volatile: set around calls that never name it */
static struct sigaction previous_bus;
static int scans_guarded; /* changed only with the GIL held */

static void on_bus(int signal, siginfo_t *info, void *context) {
    (void)signal, (void)info, (void)context;
    if (fault_guard) siglongjmp(*fault_guard, 1);
    sigaction(SIGBUS, &previous_bus, NULL); /* not ours: the fault recurs under the previous handler */
}

static void guard_install(void) {
    if (scans_guarded++) return;
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_sigaction = on_bus;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, &previous_bus);
}

static void guard_remove(void) {
    if (--scans_guarded == 0) sigaction(SIGBUS, &previous_bus, NULL);
}

static void scan_range_guarded(Range *r) {
    sigjmp_buf here;
    if (sigsetjmp(here, 1)) {
        fault_guard = NULL;
        r->file_changed = 1;
        return;
    }
    fault_guard = &here;
    scan_range(r);
    fault_guard = NULL;
}

/* memcpy from the data; 0 when a page of it is gone. */
static int copy_guarded(void *to, const void *from, size_t n) {
    sigjmp_buf here;
    if (sigsetjmp(here, 1)) {
        fault_guard = NULL;
        return 0;
    }
    fault_guard = &here;
    memcpy(to, from, n);
    fault_guard = NULL;
    return 1;
}

/* Just past the first LF at or after `from`, `size` if none; SIZE_MAX when a page of the data is gone. */
static size_t next_line_guarded(const unsigned char *data, size_t from, size_t size) {
    sigjmp_buf here;
    if (sigsetjmp(here, 1)) {
        fault_guard = NULL;
        return SIZE_MAX;
    }
    fault_guard = &here;
    const unsigned char *newline = memchr(data + from, '\n', size - from);
    fault_guard = NULL;
    return newline ? (size_t)(newline - data) + 1 : size;
}

static void *scan_thread(void *arg) {
    scan_range_guarded((Range *)arg);
    return NULL;
}

/* ---------------------------------------------------------------- Python face */

static PyObject *NotScannable, *FileChanged;

static int parse_column(PyObject *spec, Column *c) {
    /* prescan.ColumnRule: (mode, empty_ok, booleans, true_ok, false_ok, numeric, int_ok, float_ok, string_ok,
        min, min_excl, max, max_excl, min_len, max_len, fmt); min/max None when absent. */
    PyObject *min = NULL, *max = NULL;
    if (!PyArg_ParseTuple(spec, "iiiiiiiiiOiOiLLi", &c->mode, &c->empty_ok, &c->bools, &c->true_ok, &c->false_ok,
                          &c->numeric, &c->int_ok, &c->float_ok, &c->string_ok, &min, &c->min_excl, &max,
                          &c->max_excl, &c->min_len, &c->max_len, &c->fmt))
        return 0;
    c->has_min = min != Py_None;
    c->has_max = max != Py_None;
    if (c->has_min && (c->min = PyFloat_AsDouble(min)) == -1.0 && PyErr_Occurred()) return 0;
    if (c->has_max && (c->max = PyFloat_AsDouble(max)) == -1.0 && PyErr_Occurred()) return 0;
    return 1;
}

static void free_range(Range *r) {
    free(r->starts);
    free(r->flagged);
    free(r->codes);
    if (r->dicts) {
        for (int k = 0; k < r->ndict; k++) interned_free(&r->dicts[k]);
        free(r->dicts);
    }
}

static PyObject *give_up(const char *why, size_t at) {
    PyObject *exc = PyObject_CallFunction(NotScannable, "sn", why, (Py_ssize_t)at);
    if (exc) {
        PyErr_SetObject(NotScannable, exc);
        Py_DECREF(exc);
    }
    return NULL;
}

/* Append record `row` of range `r` to `out`, with a line ending if the file's last line lacks one.
 * 1 done, 0 out of memory, -1 the file shrank. */
static int append_record(char **out, size_t *used, size_t *capacity, const unsigned char *data, size_t start,
                         size_t end, int crlf) {
    size_t need = end - start + 2;
    if (*used + need > *capacity) {
        size_t c = *capacity ? *capacity * 2 : 65536;
        while (c < *used + need) c *= 2;
        char *grown = realloc(*out, c);
        if (!grown) return 0;
        *out = grown;
        *capacity = c;
    }
    if (!copy_guarded(*out + *used, data + start, end - start)) return -1;
    *used += end - start;
    if (end == start || data[end - 1] != '\n') {
        if (crlf) (*out)[(*used)++] = '\r';
        (*out)[(*used)++] = '\n';
    }
    return 1;
}

static PyObject *scan(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"data", "delimiter", "columns", "judge", "threads", "final", "crlf", "dict_limit",
                               NULL};
    Py_buffer view;
    int delimiter, threads = 2, final = 1, crlf = 0;
    Py_ssize_t dict_limit = 20000;
    PyObject *specs, *judge;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*iOO|ippn", keywords, &view, &delimiter, &specs, &judge,
                                     &threads, &final, &crlf, &dict_limit))
        return NULL;
    PyObject *result = NULL;
    Column *columns = NULL;
    int *dict_columns = NULL; /* per DICT slot, its column */
    Range ranges[MAX_THREADS];
    int nranges = 0;
    memset(ranges, 0, sizeof(ranges));
    char *records = NULL;
    size_t records_used = 0, records_capacity = 0;
    PyObject *bad_lists = NULL;
    int guarded = 0; /* the SIGBUS guard is installed until `done` */

    const unsigned char *data = view.buf;
    size_t size = (size_t)view.len;
    if (delimiter < 1 || delimiter > 127 || delimiter == '"' || delimiter == '\n' || delimiter == '\r') {
        PyErr_SetString(PyExc_ValueError, "the delimiter must be one ASCII character other than a quote or newline");
        goto done;
    }
    if (!PyList_Check(specs)) {
        PyErr_SetString(PyExc_TypeError, "columns must be a list of tuples");
        goto done;
    }
    int ncols = (int)PyList_GET_SIZE(specs), ndict = 0;
    columns = calloc(ncols ? ncols : 1, sizeof(Column));
    dict_columns = calloc(ncols ? ncols : 1, sizeof(int));
    if (!columns || !dict_columns) {
        PyErr_NoMemory();
        goto done;
    }
    for (int i = 0; i < ncols; i++) {
        if (!parse_column(PyList_GET_ITEM(specs, i), &columns[i])) goto done;
        if (columns[i].mode == MODE_DICT) dict_columns[ndict] = i, columns[i].dict_slot = ndict++;
    }

    size_t begin = 0;
    guard_install();
    guarded = 1;

    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    size_t body = size - begin;
    if (body < ((size_t)1 << 20) * (size_t)threads) threads = body >= (1u << 21) ? 2 : 1;
    nranges = threads;
    for (int t = 0; t < nranges; t++) {
        Range *r = &ranges[t];
        r->data = data;
        r->size = size;
        r->final = final;
        r->columns = columns;
        r->ncols = ncols;
        r->ndict = ndict;
        r->delimiter = (unsigned char)delimiter;
        r->crlf = crlf;
        r->dict_limit = (size_t)dict_limit;
        r->dicts = ndict ? calloc(ndict, sizeof(Interned)) : NULL;
        if (ndict && !r->dicts) {
            PyErr_NoMemory();
            goto done;
        }
        /* Guess: ranges start just after a newline past their share. */
        size_t guess = begin + body / nranges * t;
        if (t > 0 && (guess = next_line_guarded(data, guess, size)) == SIZE_MAX) {
            PyErr_SetString(FileChanged, "the file changed while it was read");
            goto done;
        }
        r->begin = guess;
        if (t > 0) ranges[t - 1].end = guess;
    }
    ranges[nranges - 1].end = size;

    Py_BEGIN_ALLOW_THREADS;
    pthread_t workers[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int t = 1; t < nranges; t++) started[t] = pthread_create(&workers[t], NULL, scan_thread, &ranges[t]) == 0;
    scan_range_guarded(&ranges[0]);
    for (int t = 1; t < nranges; t++) {
        if (started[t]) pthread_join(workers[t], NULL);
        else scan_range_guarded(&ranges[t]);
    }
    /* A quoted field spanning a split: scan the next range again from the true end. */
    for (int t = 1; t < nranges; t++) {
        Range *previous = &ranges[t - 1], *r = &ranges[t];
        if (previous->failure || previous->out_of_memory || previous->incomplete || previous->file_changed) break;
        if (previous->stop == r->begin) continue;
        r->rows = 0;
        r->nflagged = 0;
        r->failure = NULL;
        r->incomplete = 0;
        for (int k = 0; k < ndict; k++) interned_free(&r->dicts[k]);
        r->begin = previous->stop;
        if (r->end < r->begin) r->end = r->begin;
        scan_range_guarded(r);
    }
    Py_END_ALLOW_THREADS;

    /* The ranges that count: up to the first that ended inside a record. */
    int used = 0;
    size_t end_of_scan = begin;
    for (int t = 0; t < nranges; t++) {
        Range *r = &ranges[t];
        if (r->file_changed) {
            PyErr_SetString(FileChanged, "the file changed while it was read");
            goto done;
        }
        if (r->out_of_memory) {
            PyErr_NoMemory();
            goto done;
        }
        if (r->failure) {
            give_up(r->failure, r->failure_at);
            goto done;
        }
        used = t + 1;
        end_of_scan = r->stop;
        if (r->incomplete) break;
    }
    nranges = used;

    /* Merge the interned texts: every range's codes become the first range's. */
    bad_lists = PyList_New(ndict);
    if (!bad_lists) goto done;
    for (int k = 0; k < ndict; k++) {
        Interned *into = &ranges[0].dicts[k];
        for (int t = 1; t < nranges; t++) {
            Range *r = &ranges[t];
            Interned *from = &r->dicts[k];
            uint32_t *remap = malloc((from->count ? from->count : 1) * sizeof(uint32_t));
            if (!remap) {
                PyErr_NoMemory();
                goto done;
            }
            for (size_t code = 0; code < from->count; code++) {
                remap[code] = intern(into, (const unsigned char *)from->arena + from->offsets[code],
                                     from->lengths[code], (size_t)dict_limit);
                if (remap[code] == NO_CODE) {
                    free(remap);
                    give_up("a column has too many distinct values", 0);
                    goto done;
                }
            }
            for (size_t row = 0; row < r->rows; row++) {
                uint32_t *code = &r->codes[row * ndict + k];
                if (*code != NO_CODE) *code = remap[*code];
            }
            free(remap);
        }
        PyObject *texts = PyList_New((Py_ssize_t)into->count);
        if (!texts) goto done;
        for (size_t code = 0; code < into->count; code++) {
            PyObject *text = PyUnicode_DecodeUTF8(into->arena + into->offsets[code], into->lengths[code], "strict");
            if (!text) {
                Py_DECREF(texts);
                goto done;
            }
            PyList_SET_ITEM(texts, (Py_ssize_t)code, text);
        }
        PyObject *verdicts = PyObject_CallFunction(judge, "iN", dict_columns[k], texts);
        if (!verdicts) goto done;
        PyList_SET_ITEM(bad_lists, k, verdicts);
    }

    /* Suspects: natively suspect rows, and rows holding a text the judge refused. */
    unsigned char **refused = calloc(ndict ? ndict : 1, sizeof(unsigned char *));
    if (!refused) {
        PyErr_NoMemory();
        goto done;
    }
    for (int k = 0; k < ndict; k++) {
        Interned *t = &ranges[0].dicts[k];
        refused[k] = calloc(t->count ? t->count : 1, 1);
        if (!refused[k]) {
            for (int j = 0; j < k; j++) free(refused[j]);
            free(refused);
            PyErr_NoMemory();
            goto done;
        }
        PyObject *verdicts = PyList_GET_ITEM(bad_lists, k);
        PyObject *seq = PySequence_Fast(verdicts, "the judge must return a sequence of booleans");
        if (!seq || (size_t)PySequence_Fast_GET_SIZE(seq) != t->count) {
            Py_XDECREF(seq);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "the judge must return one verdict per text");
            for (int j = 0; j <= k; j++) free(refused[j]);
            free(refused);
            goto done;
        }
        for (size_t code = 0; code < t->count; code++)
            refused[k][code] = (unsigned char)PyObject_IsTrue(PySequence_Fast_GET_ITEM(seq, (Py_ssize_t)code));
        Py_DECREF(seq);
    }
    /* Suspects: rows with a flagged cell, or holding a text the judge refused. */
    PyObject *rows_out = PyList_New(0), *columns_out = PyList_New(0);
    int *row_columns = malloc((ncols + 1) * sizeof(int)); /* each column at most once, and a ragged mark */
    size_t total = 0;
    int appended = 1;
    for (int t = 0; rows_out && columns_out && row_columns && t < nranges; t++) {
        Range *r = &ranges[t];
        size_t next_flag = 0;
        for (size_t row = 0; row < r->rows; row++) {
            int n = 0;
            for (; next_flag < r->nflagged && (r->flagged[next_flag] >> 32) == row; next_flag++)
                row_columns[n++] = (int)(uint32_t)r->flagged[next_flag];
            for (int k = 0; k < ndict; k++) {
                uint32_t code = r->codes[row * ndict + k];
                if (code != NO_CODE && refused[k][code]) row_columns[n++] = dict_columns[k];
            }
            if (!n) continue;
            size_t end = row + 1 < r->rows ? r->starts[row + 1] : r->stop;
            PyObject *index = PyLong_FromSize_t(total + row), *columns = PyTuple_New(n);
            for (int i = 0; columns && i < n; i++) PyTuple_SET_ITEM(columns, i, PyLong_FromLong(row_columns[i]));
            if (!index || !columns || PyList_Append(rows_out, index) < 0 || PyList_Append(columns_out, columns) < 0 ||
                (appended = append_record(&records, &records_used, &records_capacity, data, r->starts[row], end,
                                          crlf)) != 1) {
                Py_XDECREF(index);
                Py_XDECREF(columns);
                Py_CLEAR(rows_out);
                break;
            }
            Py_DECREF(index);
            Py_DECREF(columns);
        }
        total += r->rows;
    }
    free(row_columns);
    if (!rows_out || !columns_out) {
        Py_XDECREF(rows_out);
        Py_XDECREF(columns_out);
        rows_out = NULL;
        if (appended < 0) PyErr_SetString(FileChanged, "the file changed while it was read");
        else if (!PyErr_Occurred()) PyErr_NoMemory();
    }
    for (int k = 0; k < ndict; k++) free(refused[k]);
    free(refused);
    if (!rows_out) goto done;
    result = Py_BuildValue("nNNy#n", (Py_ssize_t)total, rows_out, columns_out, records ? records : "",
                           (Py_ssize_t)records_used, (Py_ssize_t)end_of_scan);

done:
    if (guarded) guard_remove();
    for (int t = 0; t < MAX_THREADS; t++) free_range(&ranges[t]);
    free(columns);
    free(dict_columns);
    free(records);
    Py_XDECREF(bad_lists);
    PyBuffer_Release(&view);
    return result;
}

static PyObject *copy(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, stop;
    if (!PyArg_ParseTuple(args, "y*nn", &view, &start, &stop)) return NULL;
    if (start < 0) start = 0;
    if (stop > view.len) stop = view.len;
    if (stop < start) stop = start;
    PyObject *out = PyBytes_FromStringAndSize(NULL, stop - start);
    if (out) {
        guard_install();
        int copied = copy_guarded(PyBytes_AS_STRING(out), (const char *)view.buf + start, (size_t)(stop - start));
        guard_remove();
        if (!copied) {
            Py_CLEAR(out);
            PyErr_SetString(FileChanged, "the file changed while it was read");
        }
    }
    PyBuffer_Release(&view);
    return out;
}

/* ---------------------------------------------------------------- record ends (file parts) */

/* The state carried from one stretch of a file to the next. */
enum { REC_FIELD_START = 1, REC_IN_QUOTES = 2, REC_AFTER_CLOSE = 4, REC_CR = 8 };

/* How many bytes of d[0..n) are c; and, with `pair`, how many are c followed by `pair`. */
static long long count_bytes(const unsigned char *d, size_t n, unsigned char c, int pair) {
    long long count = 0;
    size_t i = 0;
#ifdef __SSE2__
    __m128i needle = _mm_set1_epi8((char)c), next = _mm_set1_epi8((char)pair);
    for (; i + 17 <= n; i += 16) {
        int hits = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(d + i)), needle));
        if (pair >= 0)
            hits &= _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(d + i + 1)), next));
        count += __builtin_popcount((unsigned)hits);
    }
#endif
    for (; i < n; i++) count += d[i] == c && (pair < 0 || (i + 1 < n && d[i + 1] == pair));
    return count;
}

/* A stretch with no quote and no CR but before an LF, entered outside quotes: its records
 * are its line feeds, counted 16 bytes at a time. 0 when the stretch is not like that. */
static int records_unquoted(const unsigned char *d, size_t n, int delimiter, int *state, long long offset,
                            const long long *targets, Py_ssize_t ntargets, long long *bounds, long long *counts,
                            Py_ssize_t *reached, long long *count) {
    if (n == 0 || (*state & ~REC_FIELD_START) || d[n - 1] == '\r' || memchr(d, '"', n)) return 0;
    if (memchr(d, '\r', n) && count_bytes(d, n, '\r', -1) != count_bytes(d, n, '\r', '\n')) return 0;
    size_t from = 0;
    long long before = 0;
    while (*reached < ntargets) {
        long long want = targets[*reached] - offset - 1; /* the LF's index: its end is at or past the target */
        if (want >= (long long)n) break;
        size_t at = want > (long long)from ? (size_t)want : from;
        const unsigned char *lf = memchr(d + at, '\n', n - at);
        if (!lf) break;
        size_t index = (size_t)(lf - d);
        before += count_bytes(d + from, index + 1 - from, '\n', -1);
        from = index + 1;
        while (*reached < ntargets && offset + (long long)index + 1 >= targets[*reached]) {
            bounds[*reached] = offset + (long long)index + 1;
            counts[*reached] = before;
            (*reached)++;
        }
    }
    *count = before + count_bytes(d + from, n - from, '\n', -1);
    *state = d[n - 1] == '\n' || d[n - 1] == (unsigned char)delimiter ? REC_FIELD_START : 0;
    return 1;
}

/*
 * records(data, delimiter, state, offset, targets) -> (state, records, found, problem)
 *
 * Counts the records that end in `data`, a stretch of a CSV below its header that
 * starts at byte `offset` of the file, reading quotes as Polars does for a well-formed
 * file: a quote opens a field only at its start, "" inside a quoted field is a quote,
 * and a line feed inside one ends no record. For each of the sorted `targets` (file
 * offsets) that the stretch reaches, `found` holds (the first record end at or after
 * it, the records of this stretch up to there). `problem` is -1, or the offset of the
 * first byte whose reading the count cannot be sure of (a quote inside an unquoted
 * field, text after a closing quote, a carriage return not followed by a line feed):
 * the caller then does not split the file. `state` is REC_FIELD_START for the first
 * stretch, and the returned one for each next.
 */
static PyObject *records(PyObject *self, PyObject *args) {
    Py_buffer view;
    int delimiter, state;
    long long offset;
    PyObject *targets_arg;
    if (!PyArg_ParseTuple(args, "y*iiLO", &view, &delimiter, &state, &offset, &targets_arg)) return NULL;
    PyObject *targets_seq = PySequence_Fast(targets_arg, "targets must be a sequence of offsets");
    if (!targets_seq) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Py_ssize_t ntargets = PySequence_Fast_GET_SIZE(targets_seq);
    long long *targets = PyMem_Calloc(ntargets ? ntargets * 3 : 1, sizeof(long long));
    if (!targets) {
        Py_DECREF(targets_seq);
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    long long *bounds = targets + ntargets, *counts = targets + 2 * ntargets;
    for (Py_ssize_t k = 0; k < ntargets; k++) {
        targets[k] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(targets_seq, k));
    }
    Py_DECREF(targets_seq);
    if (PyErr_Occurred()) {
        PyMem_Free(targets);
        PyBuffer_Release(&view);
        return NULL;
    }
    const unsigned char *d = view.buf;
    size_t n = (size_t)view.len;
    long long count = 0, problem = -1;
    Py_ssize_t reached = 0;
    Py_BEGIN_ALLOW_THREADS
    int fast = records_unquoted(d, n, delimiter, &state, offset, targets, ntargets, bounds, counts, &reached, &count);
    for (size_t i = 0; !fast && i < n; i++) {
        unsigned char c = d[i];
        if (state & REC_CR) {
            if (c != '\n') {
                problem = offset + (long long)i;
                break;
            }
            state &= ~REC_CR;
        }
        if (state & REC_IN_QUOTES) {
            if (c == '"') state = REC_AFTER_CLOSE;
            else if (c == '\r') state |= REC_CR;
            continue;
        }
        if (c == '\n') {
            count++;
            state = REC_FIELD_START;
            while (reached < ntargets && offset + (long long)i + 1 >= targets[reached]) {
                bounds[reached] = offset + (long long)i + 1;
                counts[reached] = count;
                reached++;
            }
        } else if (c == '"') {
            if (!(state & (REC_FIELD_START | REC_AFTER_CLOSE))) {
                problem = offset + (long long)i;
                break;
            }
            state = REC_IN_QUOTES; /* a field's opening quote, or the second of "" inside one */
        } else if (c == (unsigned char)delimiter) {
            state = REC_FIELD_START;
        } else if (c == '\r') {
            state = REC_CR;
        } else if (state & REC_AFTER_CLOSE) {
            problem = offset + (long long)i;
            break;
        } else {
            state = 0;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyObject *found = PyList_New(reached);
    for (Py_ssize_t k = 0; found && k < reached; k++) {
        PyObject *pair = Py_BuildValue("(LL)", bounds[k], counts[k]);
        if (!pair) Py_CLEAR(found);
        else PyList_SET_ITEM(found, k, pair);
    }
    PyMem_Free(targets);
    if (!found) return NULL;
    return Py_BuildValue("(iLNL)", state, count, found, problem);
}

static PyMethodDef methods[] = {
    {"copy", copy, METH_VARARGS,
     "copy(data, start, stop) -> bytes: data[start:stop], FileChanged (not SIGBUS) if a mapped file shrank."},
    {"scan", (PyCFunction)(void (*)(void))scan, METH_VARARGS | METH_KEYWORDS,
     "scan(data, delimiter, columns, judge, threads=2, final=True, crlf=False, dict_limit=20000)\n"
     "-> (rows, suspect_rows, suspect_columns, suspect_records, end).\n"
     "Not final: stops before a record the data ends inside."},
    {"records", records, METH_VARARGS,
     "records(data, delimiter, state, offset, targets) -> (state, records, found, problem):\n"
     "the records that end in a stretch of a CSV, and the first record end at or after each target."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_prescan", "Native pre-scan of CSV bytes.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__prescan(void) {
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    NotScannable = PyErr_NewException("airflow_provider_typecheck.validation._prescan.NotScannable", PyExc_ValueError,
                                      NULL);
    if (!NotScannable || PyModule_AddObject(m, "NotScannable", NotScannable) < 0) return NULL;
    FileChanged = PyErr_NewException("airflow_provider_typecheck.validation._prescan.FileChanged", PyExc_OSError,
                                     NULL);
    if (!FileChanged || PyModule_AddObject(m, "FileChanged", FileChanged) < 0) return NULL;
    return m;
}
