/*
** test_demodata.c -- the sample-data generator (core/demodata.c).
**
** Generates 2,000 customers into a fresh directory (under $CS_TEST_WORK when
** set, else /tmp) and checks: the same seed gives the same rows, another seed
** other rows; the four tables and their column counts and types; the example
** customers and their documented problems; the injected defects and their
** documented counts (docs/sample-data.md); failures leave no temporary file
** and an existing output untouched; a successful run replaces the output by
** rename.  TAP output.
*/
#include <dirent.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "demodata.h"
#include "err.h"
#include "tap.h"

#define CUSTOMERS 2000
#define EXAMPLES 6

static const char *const TABLE_NAMES[4] = {"SAMPLE_APPLICATION", "SAMPLE_BUREAU", "SAMPLE_PREVIOUS_APP",
                                           "SAMPLE_INSTALLMENTS"};
static const int TABLE_COLS[4] = {122, 17, 37, 8};

static char work[4096];

static void make_workdir(void)
{
    const char *base = getenv("CS_TEST_WORK");
    snprintf(work, sizeof(work), "%s/cs-demodata.XXXXXX", base && base[0] ? base : "/tmp");
    if (mkdtemp(work) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
}

static const char *in_work(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", work, name);
    return buf;
}

static void remove_workdir(void)
{
    DIR *d = opendir(work);
    struct dirent *e;
    char p[8192];
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", work, e->d_name);
        if (unlink(p) != 0)
            rmdir(p);
    }
    if (d != NULL)
        closedir(d);
    rmdir(work);
}

/* Any "<something>.tmp-<pid>" left in the work directory? */
static int temp_files_left(void)
{
    DIR *d = opendir(work);
    struct dirent *e;
    int n = 0;
    while (d != NULL && (e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp-") != NULL)
            n++;
    if (d != NULL)
        closedir(d);
    return n;
}

struct progress_log {
    int calls, app_final_ok, saw_inst;
    uint64_t last_done;
};

static void on_progress(void *ctx, const char *table, uint64_t done, uint64_t total)
{
    struct progress_log *p = ctx;
    p->calls++;
    if (strcmp(table, "SAMPLE_APPLICATION") == 0 && done == CUSTOMERS + EXAMPLES && total == done)
        p->app_final_ok = 1;
    if (strcmp(table, "SAMPLE_INSTALLMENTS") == 0)
        p->saw_inst = 1;
    p->last_done = done;
}

static int gen(const char *out, uint64_t customers, uint64_t seed, struct progress_log *pl, struct cs_err *err)
{
    struct cs_demodata_opts o = {.out = out, .customers = customers, .seed = seed,
                                 .progress = pl ? on_progress : NULL, .progress_ctx = pl};
    cs_err_clear(err);
    return cs_demodata_write(&o, err);
}

static sqlite3 *open_ro(const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* First column of the first row as an integer; -999999 on error. */
static int64_t q_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -999999;
    if (db != NULL && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        printf("# query failed: %s: %s\n", sql, db ? sqlite3_errmsg(db) : "no database");
    sqlite3_finalize(st);
    return v;
}

static double q_real(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    double v = -1e300;
    if (db != NULL && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_double(st, 0);
    sqlite3_finalize(st);
    return v;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* A checksum of every value, with its storage class, in rowid order. */
static uint64_t table_hash(sqlite3 *db, const char *table)
{
    char sql[256];
    sqlite3_stmt *st = NULL;
    uint64_t h = 0xcbf29ce484222325ull;
    snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY rowid", table);
    if (db == NULL || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            unsigned char type = (unsigned char)sqlite3_column_type(st, c);
            h = fnv(h, &type, 1);
            if (type == SQLITE_INTEGER) {
                int64_t v = sqlite3_column_int64(st, c);
                h = fnv(h, &v, sizeof(v));
            } else if (type == SQLITE_FLOAT) {
                double v = sqlite3_column_double(st, c);
                h = fnv(h, &v, sizeof(v));
            } else if (type == SQLITE_TEXT) {
                h = fnv(h, sqlite3_column_text(st, c), (size_t)sqlite3_column_bytes(st, c) + 1);
            }
        }
    }
    sqlite3_finalize(st);
    return h;
}

static const char *decltype_of(sqlite3 *db, const char *table, const char *col, char *buf, size_t size)
{
    char sql[256];
    sqlite3_stmt *st = NULL;
    snprintf(sql, sizeof(sql), "SELECT %s FROM %s LIMIT 0", col, table);
    buf[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_column_decltype(st, 0) != NULL)
        snprintf(buf, size, "%s", sqlite3_column_decltype(st, 0));
    sqlite3_finalize(st);
    return buf;
}

static int column_count(sqlite3 *db, const char *table)
{
    char sql[256];
    sqlite3_stmt *st = NULL;
    int n = -1;
    snprintf(sql, sizeof(sql), "SELECT * FROM %s LIMIT 0", table);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK)
        n = sqlite3_column_count(st);
    sqlite3_finalize(st);
    return n;
}

static void test_schema(sqlite3 *db)
{
    char buf[64];
    for (int t = 0; t < 4; t++)
        ok(column_count(db, TABLE_NAMES[t]) == TABLE_COLS[t], "%s has %d columns", TABLE_NAMES[t], TABLE_COLS[t]);
    ok(strcmp(decltype_of(db, "SAMPLE_APPLICATION", "SK_ID_CURR", buf, sizeof(buf)), "INTEGER") == 0,
       "SK_ID_CURR is declared INTEGER");
    ok(strcmp(decltype_of(db, "SAMPLE_APPLICATION", "AMT_CREDIT", buf, sizeof(buf)), "REAL") == 0,
       "AMT_CREDIT is declared REAL");
    ok(strcmp(decltype_of(db, "SAMPLE_APPLICATION", "DAYS_REGISTRATION", buf, sizeof(buf)), "REAL") == 0,
       "DAYS_REGISTRATION is declared REAL (a float in the real data)");
    ok(strcmp(decltype_of(db, "SAMPLE_PREVIOUS_APP", "NAME_YIELD_GROUP", buf, sizeof(buf)), "TEXT") == 0,
       "NAME_YIELD_GROUP is declared TEXT");
    ok(strcmp(decltype_of(db, "SAMPLE_INSTALLMENTS", "NUM_INSTALMENT_NUMBER", buf, sizeof(buf)), "INTEGER") == 0,
       "NUM_INSTALMENT_NUMBER is declared INTEGER");
    ok(q_int(db, "SELECT count(*) FROM sqlite_master WHERE type='index' AND name LIKE 'SAMPLE_%'") == 4,
       "four customer / key indexes");
}

static void test_shape(sqlite3 *db)
{
    int64_t app = q_int(db, "SELECT count(*) FROM SAMPLE_APPLICATION");
    int64_t bureau = q_int(db, "SELECT count(*) FROM SAMPLE_BUREAU");
    int64_t prev = q_int(db, "SELECT count(*) FROM SAMPLE_PREVIOUS_APP");
    int64_t inst = q_int(db, "SELECT count(*) FROM SAMPLE_INSTALLMENTS");
    ok(app == CUSTOMERS + EXAMPLES, "one application per customer plus the 6 examples (%lld)", (long long)app);
    ok(q_int(db, "SELECT min(SK_ID_CURR) FROM SAMPLE_APPLICATION") == CS_DEMODATA_FIRST_ID, "ids start at 100002");
    ok(bureau > 3 * CUSTOMERS && bureau < 7 * CUSTOMERS, "about 5 bureau rows per customer (%lld)", (long long)bureau);
    ok(prev > 4 * CUSTOMERS && prev < 7 * CUSTOMERS, "about 5 previous applications per customer (%lld)",
       (long long)prev);
    ok(inst > 2 * prev && inst < 10 * prev, "several instalments per previous application (%lld)", (long long)inst);
    ok(q_int(db, "SELECT count(*) FROM SAMPLE_BUREAU WHERE SK_ID_CURR IS NOT NULL AND SK_ID_CURR NOT IN "
                 "(SELECT SK_ID_CURR FROM SAMPLE_APPLICATION)") == 0,
       "every bureau customer has an application");
}

/* Realistic rates and legitimate quirks, within sampling tolerance. */
static void test_rates(sqlite3 *db)
{
    double sentinel = q_real(db, "SELECT avg(DAYS_EMPLOYED = 365243) FROM SAMPLE_APPLICATION");
    ok(sentinel > 0.15 && sentinel < 0.21, "DAYS_EMPLOYED = 365243 on ~18%% (%.3f)", sentinel);
    ok(q_int(db, "SELECT count(*) FROM SAMPLE_APPLICATION WHERE ORGANIZATION_TYPE = 'XNA' "
                 "AND DAYS_EMPLOYED <> 365243") == 0,
       "ORGANIZATION_TYPE XNA only with the sentinel");
    double ext1 = q_real(db, "SELECT avg(EXT_SOURCE_1 IS NULL) FROM SAMPLE_APPLICATION");
    ok(ext1 > 0.52 && ext1 < 0.61, "EXT_SOURCE_1 missing on ~56%% (%.3f)", ext1);
    double occ = q_real(db, "SELECT avg(OCCUPATION_TYPE IS NULL) FROM SAMPLE_APPLICATION");
    ok(occ > 0.27 && occ < 0.35, "OCCUPATION_TYPE missing on ~31%% (%.3f)", occ);
    double common = q_real(db, "SELECT avg(COMMONAREA_AVG IS NULL) FROM SAMPLE_APPLICATION");
    ok(common > 0.65 && common < 0.74, "COMMONAREA_AVG missing on ~70%% (%.3f)", common);
    ok(q_int(db, "SELECT count(*) FROM SAMPLE_APPLICATION WHERE (APARTMENTS_AVG IS NULL) <> (APARTMENTS_MEDI IS NULL)")
           == 0,
       "building columns go missing together");
    ok(q_int(db, "SELECT max(DAYS_BIRTH) FROM SAMPLE_APPLICATION") < 0, "DAYS_BIRTH is negative");
    ok(q_int(db, "SELECT count(*) FROM SAMPLE_PREVIOUS_APP WHERE DAYS_FIRST_DRAWING = 365243") > 0,
       "previous applications carry the 365243 sentinel");
    ok(q_int(db, "SELECT count(*) FROM SAMPLE_PREVIOUS_APP WHERE SELLERPLACE_AREA = -1") > 0, "SELLERPLACE_AREA -1");
    ok(q_int(db, "SELECT count(*) FROM SAMPLE_PREVIOUS_APP WHERE NAME_CASH_LOAN_PURPOSE = 'XAP'") > 0,
       "XAP placeholders");
    ok(q_int(db, "SELECT count(*) FROM SAMPLE_BUREAU WHERE AMT_CREDIT_SUM_DEBT > AMT_CREDIT_SUM") > 0,
       "bureau debt above the credit sum occurs");
    ok(q_int(db, "SELECT count(*) FROM SAMPLE_BUREAU WHERE DAYS_CREDIT_ENDDATE > 20000") > 0,
       "bureau end dates decades ahead occur");
    ok(q_int(db, "SELECT count(*) FROM SAMPLE_INSTALLMENTS WHERE DAYS_ENTRY_PAYMENT > DAYS_INSTALMENT") > 0,
       "late instalments occur");
    ok(q_int(db, "SELECT count(*) FROM SAMPLE_APPLICATION WHERE typeof(DAYS_BIRTH) <> 'integer' "
                 "OR typeof(AMT_CREDIT) <> 'real' OR typeof(NAME_CONTRACT_TYPE) <> 'text'") == 0,
       "values are stored with their column's type");
}

/* The counts documented in docs/sample-data.md. */
static void test_defects(sqlite3 *db)
{
    ok(q_int(db, "SELECT count(*) FROM (SELECT SK_ID_BUREAU FROM SAMPLE_BUREAU GROUP BY 1 HAVING count(*) > 1)") == 5,
       "5 duplicated SK_ID_BUREAU");
    ok(q_int(db, "SELECT count(*) FROM SAMPLE_BUREAU WHERE SK_ID_CURR IS NULL") == 2, "2 bureau rows without customer");
    ok(q_int(db, "SELECT count(*) FROM (SELECT 1 FROM SAMPLE_INSTALLMENTS GROUP BY SK_ID_PREV, SK_ID_CURR, "
                 "NUM_INSTALMENT_VERSION, NUM_INSTALMENT_NUMBER, DAYS_INSTALMENT, DAYS_ENTRY_PAYMENT, AMT_INSTALMENT, "
                 "AMT_PAYMENT HAVING count(*) > 1)") == 5,
       "5 whole-row duplicate instalments");
    ok(q_int(db, "SELECT count(*) FROM SAMPLE_APPLICATION WHERE AMT_CREDIT < 0") == 3, "3 negative AMT_CREDIT");
    ok(q_int(db, "SELECT count(*) FROM SAMPLE_APPLICATION WHERE AMT_INCOME_TOTAL < 0") == 3,
       "3 negative AMT_INCOME_TOTAL");
    ok(q_int(db, "SELECT count(*) FROM SAMPLE_APPLICATION WHERE typeof(AMT_ANNUITY) = 'text' AND AMT_ANNUITY = 'n/a'")
           == 3,
       "3 text values 'n/a' in AMT_ANNUITY");
    ok(q_int(db, "SELECT count(DISTINCT SK_ID_PREV) FROM SAMPLE_INSTALLMENTS WHERE SK_ID_PREV NOT IN "
                 "(SELECT SK_ID_PREV FROM SAMPLE_PREVIOUS_APP)") == 3,
       "3 orphan SK_ID_PREV in instalments");
}

static int64_t qf_int(sqlite3 *db, const char *fmt, int64_t id)
{
    char sql[512];
    snprintf(sql, sizeof(sql), fmt, (long long)id);
    return q_int(db, sql);
}

static void test_examples(sqlite3 *db)
{
    static const int64_t ids[] = {CS_DEMODATA_EXAMPLE_IDS};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        ok(qf_int(db, "SELECT count(*) FROM SAMPLE_APPLICATION WHERE SK_ID_CURR = %lld", ids[i]) == 1,
           "example customer %lld exists", (long long)ids[i]);
    ok(q_int(db, "SELECT AMT_ANNUITY IS NULL AND DAYS_EMPLOYED = 365243 AND NAME_INCOME_TYPE = 'Working' "
                 "FROM SAMPLE_APPLICATION WHERE SK_ID_CURR = 103065") == 1,
       "103065: missing annuity, sentinel on a working customer");
    ok(q_int(db, "SELECT count(*) FROM SAMPLE_INSTALLMENTS WHERE SK_ID_CURR = 103065 "
                 "AND DAYS_ENTRY_PAYMENT >= DAYS_INSTALMENT + 15") >= 12,
       "103065: late instalments");
    ok(q_int(db, "SELECT AMT_CREDIT < 0 FROM SAMPLE_APPLICATION WHERE SK_ID_CURR = 108032") == 1,
       "108032: negative AMT_CREDIT");
    ok(q_int(db, "SELECT count(*) - count(DISTINCT SK_ID_BUREAU) FROM SAMPLE_BUREAU WHERE SK_ID_CURR = 108032") == 1,
       "108032: a duplicated bureau id");
    ok(q_int(db, "SELECT sum(AMT_CREDIT_SUM_DEBT > AMT_CREDIT_SUM) >= 1 AND sum(AMT_CREDIT_SUM_DEBT < 0) >= 1 "
                 "FROM SAMPLE_BUREAU WHERE SK_ID_CURR = 108032") == 1,
       "108032: bureau debt above the sum and negative");
    ok(q_int(db, "SELECT AMT_INCOME_TOTAL = 117000000 AND OWN_CAR_AGE = 91 AND AMT_ANNUITY > AMT_CREDIT "
                 "FROM SAMPLE_APPLICATION WHERE SK_ID_CURR = 111950") == 1,
       "111950: income outlier, 91-year-old car, annuity above credit");
    ok(q_int(db, "SELECT AMT_ANNUITY = 'n/a' AND CODE_GENDER = 'XNA' FROM SAMPLE_APPLICATION "
                 "WHERE SK_ID_CURR = 112961") == 1,
       "112961: text annuity, gender XNA");
    ok(q_int(db, "SELECT count(*) FROM SAMPLE_PREVIOUS_APP WHERE SK_ID_CURR = 112961 AND AMT_DOWN_PAYMENT < 0") == 1,
       "112961: negative down payment");
    ok(q_int(db, "SELECT count(*) FROM (SELECT 1 FROM SAMPLE_INSTALLMENTS WHERE SK_ID_CURR = 121072 "
                 "GROUP BY SK_ID_PREV, NUM_INSTALMENT_NUMBER, DAYS_ENTRY_PAYMENT, AMT_PAYMENT HAVING count(*) > 1)") == 1,
       "121072: a duplicated instalment row");
    ok(q_int(db, "SELECT sum(AMT_PAYMENT IS NULL) >= 1 AND sum(AMT_PAYMENT >= 2 * AMT_INSTALMENT) >= 1 "
                 "FROM SAMPLE_INSTALLMENTS WHERE SK_ID_CURR = 121072") == 1,
       "121072: unpaid and overpaid instalments");
    ok(q_int(db, "SELECT max(DAYS_CREDIT_ENDDATE) > 30000 FROM SAMPLE_BUREAU WHERE SK_ID_CURR = 121072") == 1,
       "121072: bureau end date 85 years ahead");
    ok(q_int(db, "SELECT AMT_INCOME_TOTAL < 0 AND EXT_SOURCE_1 IS NULL AND EXT_SOURCE_2 IS NULL "
                 "AND EXT_SOURCE_3 IS NULL FROM SAMPLE_APPLICATION WHERE SK_ID_CURR = 103788") == 1,
       "103788: negative income, no external scores");
    ok(q_int(db, "SELECT max(AMT_CREDIT_MAX_OVERDUE) > 1e8 FROM SAMPLE_BUREAU WHERE SK_ID_CURR = 103788") == 1,
       "103788: bureau overdue outlier");
    ok(q_int(db, "SELECT count(*) FROM SAMPLE_INSTALLMENTS WHERE SK_ID_CURR = 103788 AND SK_ID_PREV NOT IN "
                 "(SELECT SK_ID_PREV FROM SAMPLE_PREVIOUS_APP)") > 0,
       "103788: instalments of an unknown previous application");
}

static void test_determinism(const char *a_path)
{
    char b_path[4200], c_path[4200];
    struct cs_err err;
    int rb = gen(in_work(b_path, sizeof(b_path), "b.db"), CUSTOMERS, 42, NULL, &err);
    int rc = gen(in_work(c_path, sizeof(c_path), "c.db"), CUSTOMERS, 43, NULL, &err);
    ok(rb == 0 && rc == 0, "second and third generation succeed");
    sqlite3 *a = open_ro(a_path), *b = open_ro(b_path), *c = open_ro(c_path);
    for (int t = 0; t < 4; t++) {
        uint64_t ha = table_hash(a, TABLE_NAMES[t]), hb = table_hash(b, TABLE_NAMES[t]);
        uint64_t hc = table_hash(c, TABLE_NAMES[t]);
        ok(ha != 0 && ha == hb, "same seed, same %s (%016llx)", TABLE_NAMES[t], (unsigned long long)ha);
        ok(hc != 0 && ha != hc, "other seed, other %s", TABLE_NAMES[t]);
    }
    sqlite3_close(a);
    sqlite3_close(b);
    sqlite3_close(c);
    unlink(b_path);
    unlink(c_path);
}

static void test_bad_paths(void)
{
    char out[4200];
    struct cs_err err;
    int rc = gen(in_work(out, sizeof(out), "no-such-dir/x.db"), 50, 1, NULL, &err);
    ok(rc == CS_ESOURCE && strstr(err.msg, "does not exist") != NULL, "missing directory: %d %s", rc, err.msg);
    in_work(out, sizeof(out), "adir");
    mkdir(out, 0755);
    rc = gen(out, 50, 1, NULL, &err);
    ok(rc < 0 && strstr(err.msg, "is a directory") != NULL, "output is a directory: %s", err.msg);
    rc = gen(in_work(out, sizeof(out), "zero.db"), 0, 1, NULL, &err);
    ok(rc == CS_EUSAGE && strstr(err.msg, "--customers") != NULL, "zero customers refused: %s", err.msg);
    rc = gen(NULL, 10, 1, NULL, &err);
    ok(rc == CS_EUSAGE && strstr(err.msg, "--out") != NULL, "no output refused: %s", err.msg);
    ok(access(out, F_OK) != 0, "nothing written for refused options");
    ok(temp_files_left() == 0, "no temporary file left after refused paths");
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static int file_is(const char *path, const char *text)
{
    char buf[256] = {0};
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    return n == strlen(text) && memcmp(buf, text, n) == 0;
}

/* A write failure halfway (file size limit) must not touch the old output. */
static void test_failed_write_keeps_old(void)
{
    char out[4200];
    struct cs_err err;
    struct rlimit old, lim;
    in_work(out, sizeof(out), "keep.db");
    ok(write_file(out, "previous contents\n") == 0, "an existing output");
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 256 * 1024;
    signal(SIGXFSZ, SIG_IGN); /* make the write fail with EFBIG instead of killing us */
    setrlimit(RLIMIT_FSIZE, &lim);
    int rc = gen(out, CUSTOMERS, 7, NULL, &err);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);
    ok(rc == CS_ESOURCE && strstr(err.msg, "demo-data") != NULL, "a failing write is reported: %s", err.msg);
    ok(file_is(out, "previous contents\n"), "the old output is untouched");
    ok(temp_files_left() == 0, "the temporary file is removed");
    unlink(out);
}

static void test_replace(void)
{
    char out[4200];
    struct cs_err err;
    struct stat before, after;
    in_work(out, sizeof(out), "replace.db");
    write_file(out, "not a database\n");
    stat(out, &before);
    int rc = gen(out, 1, 5, NULL, &err);
    ok(rc == 0, "one customer: %s", err.msg);
    ok(stat(out, &after) == 0 && after.st_ino != before.st_ino, "the output was replaced by a rename");
    sqlite3 *db = open_ro(out);
    ok(q_int(db, "SELECT count(*) FROM SAMPLE_APPLICATION") == 1 + EXAMPLES, "one customer plus the examples");
    ok(q_int(db, "SELECT count(*) FROM SAMPLE_APPLICATION WHERE SK_ID_CURR = 121072") == 1,
       "examples are added beyond a short range");
    sqlite3_close(db);
    ok(temp_files_left() == 0, "no temporary file after success");
    unlink(out);
}

int main(void)
{
    char a_path[4200];
    struct cs_err err;
    struct progress_log pl = {0};
    make_workdir();
    int rc = gen(in_work(a_path, sizeof(a_path), "a.db"), CUSTOMERS, 42, &pl, &err);
    ok(rc == 0, "generate %d customers: %s", CUSTOMERS, rc ? err.msg : "ok");
    ok(pl.calls > 4 && pl.app_final_ok && pl.saw_inst, "progress reported per table (%d calls)", pl.calls);
    ok(temp_files_left() == 0, "no temporary file after success");
    sqlite3 *db = open_ro(a_path);
    ok(db != NULL, "the output opens");
    test_schema(db);
    test_shape(db);
    test_rates(db);
    test_defects(db);
    test_examples(db);
    sqlite3_close(db);
    test_determinism(a_path);
    test_bad_paths();
    test_failed_write_keeps_old();
    test_replace();
    remove_workdir();
    return tap_done();
}
