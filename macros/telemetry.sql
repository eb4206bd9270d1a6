{#-
    Incremental telemetry models rebuild whole UTC days: the days that calls loaded since the
    model's last build touch. A constant list of date literals (`event_date in (...)`) lets
    the engine filter at the scans.
-#}

{#-
    For stg_telemetry__llm_calls, which reads the raw tables: {'days': SQL list of the days
    to rebuild, 'files': SQL list of the files holding calls of those days (none: too many to
    list, read all), 'newest_load_id': the newest `_loaded_at` among them}. The days are those
    of the rows loaded after the newest load id already built, plus every day the files of
    those rows covered before (a re-written file may have moved or dropped calls). A full
    build (`this_relation` none) takes every day.
-#}
{% macro telemetry_raw_batch(this_relation) -%}
    {#- the refs are rendered at parse time too, so dbt knows the dependencies -#}
    {%- set format_models = [ref('stg_telemetry__events'), ref('stg_telemetry__otlp_spans'),
                             ref('stg_telemetry__litellm_spend_logs')] -%}
    {%- if not execute -%}
        {{ return({'days': 'cast(null as date)', 'newest_load_id': none}) }}
    {%- endif -%}
    {%- set last_load_id = none -%}
    {%- if this_relation is not none -%}
        {%- set last = run_query("select max(load_id) from " ~ this_relation) -%}
        {%- set last_load_id = last.columns[0].values()[0] if last.rows | length > 0 else none -%}
    {%- endif -%}
    {%- set query -%}
        with new_rows as (
            {%- for format_model in format_models %}
            select
                source_file,
                {{ 'cast(occurred_at as date)' if this_relation is not none else 'null' }}
                    as event_date,
                load_id
            from {{ format_model }}
            {%- if last_load_id is not none %}
            where load_id > '{{ last_load_id }}'
            {%- endif %}
            {%- if not loop.last %}
            union all
            {%- endif %}
            {%- endfor %}
        )
        {%- if this_relation is not none %}
        select 'day' as kind, cast(event_date as varchar(10)) as value
        from new_rows
        group by event_date
        union all
        select 'day' as kind, cast(event_date as varchar(10)) as value
        from {{ this_relation }}
        where source_file in (select source_file from new_rows)
        group by event_date
        union all
        {%- endif %}
        select 'newest' as kind, max(load_id) as value
        from new_rows
    {%- endset -%}
    {%- set result = run_query(query) -%}
    {%- set days = [] -%}
    {%- set newest = [] -%}
    {%- for row in result.rows -%}
        {%- if row[0] == 'newest' and row[1] is not none -%}
            {%- do newest.append(row[1]) -%}
        {%- elif row[0] == 'day' and row[1] is not none and row[1] not in days -%}
            {%- do days.append(row[1]) -%}
        {%- endif -%}
    {%- endfor -%}
    {#- the files that hold calls of those days: the raw scans read only them (a filter on the
        file name skips the rest cheaply; the day of a call is a parsed timestamp) -#}
    {%- set files = none -%}
    {%- if this_relation is not none and days | length > 0 -%}
        {%- set files_query -%}
            {%- for format_model in format_models %}
            select source_file from {{ format_model }}
            where load_id > '{{ last_load_id if last_load_id is not none else '' }}'
            union
            {%- endfor %}
            select source_file from {{ this_relation }}
            where event_date in ({{ _date_literals(days) }})
        {%- endset -%}
        {%- set names = run_query(files_query).columns[0].values() | reject('none') | list -%}
        {%- if names | length <= var('telemetry_max_files_in_filter', 2000) -%}
            {%- set quoted = [] -%}
            {%- for name in names | sort -%}
                {%- do quoted.append("'" ~ (name | replace("'", "''")) ~ "'") -%}
            {%- endfor -%}
            {%- set files = quoted | join(', ') if quoted | length > 0 else "''" -%}
        {%- endif -%}
    {%- elif this_relation is not none -%}
        {#- nothing new: no file to read (not every file: a day with no new calls is cheap) -#}
        {%- set files = "''" -%}
    {%- endif -%}
    {{ return({
        'days': _date_literals(days),
        'files': files,
        'newest_load_id': newest[0] if newest | length > 0 else none,
    }) }}
{%- endmacro %}


{#-
    For the models built from stg_telemetry__llm_calls: the days its last builds rebuilt
    (rows stamped with a `rebuilt_load_id` newer than the newest this model has seen), as a
    SQL list of dates. Everything when `this_relation` is none (a full build).
-#}
{% macro telemetry_days_to_rebuild(this_relation) -%}
    {%- set calls = ref('stg_telemetry__llm_calls') -%}
    {%- if not execute -%}
        {{ return('cast(null as date)') }}
    {%- endif -%}
    {%- set last = run_query("select max(last_load_id) from " ~ this_relation) -%}
    {%- set last_load_id = last.columns[0].values()[0] if last.rows | length > 0 else none -%}
    {%- set query -%}
        select cast(event_date as varchar(10)) as value
        from {{ calls }}
        {%- if last_load_id is not none %}
        where rebuilt_load_id > '{{ last_load_id }}'
        {%- endif %}
        group by event_date
    {%- endset -%}
    {%- set days = run_query(query).columns[0].values() | reject('none') | list -%}
    {{ return(_date_literals(days)) }}
{%- endmacro %}


{% macro _date_literals(days) -%}
    {%- if days | length == 0 -%}
        {{ return('cast(null as date)') }}
    {%- endif -%}
    {%- set literals = [] -%}
    {%- for day in days | sort -%}
        {%- do literals.append("cast('" ~ day ~ "' as date)") -%}
    {%- endfor -%}
    {{ return(literals | join(', ')) }}
{%- endmacro %}


{#- The dimensions of a telemetry usage group (int_telemetry__usage_daily without the token
    type): calls of one group are priced and attributed alike. -#}
{% macro telemetry_usage_group_columns() -%}
    {{ return([
        'provider', 'event_date', 'sub_account_id', 'api_key_id', 'model', 'service_tier',
        'context_window', 'context_tokens', 'team', 'application', 'feature',
        'prompt_template_id', 'prompt_template_version',
    ]) }}
{%- endmacro %}


{#- A call's prompt size as the pricing needs it: input + cached input + cache writes when
    above var `telemetry_exact_prompt_tokens_above` (no long-context price tier starts
    lower), else 0, so that ordinary calls group together. -#}
{% macro telemetry_prompt_size(calls) -%}
    case
        when {{ calls }}.input_tokens + {{ calls }}.cached_input_tokens
            + {{ calls }}.cache_write_5m_tokens + {{ calls }}.cache_write_1h_tokens
            + {{ calls }}.cache_write_tokens
            > {{ var('telemetry_exact_prompt_tokens_above', 100000) }}
            then cast(
                {{ calls }}.input_tokens + {{ calls }}.cached_input_tokens
                + {{ calls }}.cache_write_5m_tokens + {{ calls }}.cache_write_1h_tokens
                + {{ calls }}.cache_write_tokens as bigint
            )
        else cast(0 as bigint)
    end
{%- endmacro %}


{#- A join key that makes null equal to null and still lets both engines hash-join on it
    (`is not distinct from` is not hashable on PostgreSQL). For text columns. -#}
{% macro null_safe_key(column) -%}
    coalesce({{ column }}, '<null>')
{%- endmacro %}


{#- One rate row of int_telemetry__conversation_rates as text (its day's fingerprint hashes
    them all). -#}
{% macro telemetry_rate_text(relation, token_types) -%}
    {%- set parts = [relation ~ '.usage_group_key', relation ~ '.team', relation ~ '.cost_centre',
        relation ~ '.allocation_rule_id', relation ~ '.allocation_method',
        relation ~ '.attribution_method', relation ~ '.billing_currency'] -%}
    {%- for token_type in token_types -%}
        {%- do parts.append(relation ~ '.' ~ token_type ~ '_nanos_per_unit') -%}
    {%- endfor -%}
    {%- set texts = [] -%}
    {%- for part in parts -%}
        {%- do texts.append("coalesce(cast(" ~ part ~ " as " ~ dbt.type_string() ~ "), '')") -%}
    {%- endfor -%}
    {{ texts | join(" || '|' || ") }}
{%- endmacro %}


{#-
    For fct_conversation_costs: the UTC days whose rows are out of date — the day's rates
    (int_telemetry__conversation_rates.day_fingerprint) or its conversations
    (int_telemetry__conversations_daily, rebuilt by a newer load) changed since its rows were
    written (`x_day_fingerprint`). Everything when `this_relation` is none.
-#}
{% macro conversation_day_fingerprints(rates, conversations) -%}
    select
        rates.event_date,
        {{ hash_text("rates.day_fingerprint || '|' || conversations.last_load_id") }}
            as day_fingerprint
    from (
        select event_date, min(day_fingerprint) as day_fingerprint
        from {{ rates }}
        group by event_date
    ) as rates
    inner join (
        select event_date, max(last_load_id) as last_load_id
        from {{ conversations }}
        group by event_date
    ) as conversations
        on rates.event_date = conversations.event_date
{%- endmacro %}

{% macro conversation_days_to_rebuild(this_relation) -%}
    {%- set rates = ref('int_telemetry__conversation_rates') -%}
    {%- set conversations = ref('int_telemetry__conversations_daily') -%}
    {%- if not execute -%}
        {{ return('cast(null as date)') }}
    {%- endif -%}
    {%- set query -%}
        select cast(current_days.event_date as varchar(10))
        from ({{ conversation_day_fingerprints(rates, conversations) }}) as current_days
        left join (
            select charge_date, min(x_day_fingerprint) as day_fingerprint
            from {{ this_relation }}
            group by charge_date
        ) as built
            on current_days.event_date = built.charge_date
        where built.day_fingerprint is null
            or built.day_fingerprint <> current_days.day_fingerprint
    {%- endset -%}
    {%- set days = run_query(query).columns[0].values() | reject('none') | list -%}
    {{ return(_date_literals(days)) }}
{%- endmacro %}


{#- A conversation row's cost in nano-units: Σ over token types of its tokens × the rate. -#}
{% macro telemetry_conversation_nanos(conversations, rates, token_columns) -%}
    {%- set terms = [] -%}
    {%- for token_type, column in token_columns -%}
        {%- do terms.append(conversations ~ '.' ~ column ~ ' * ' ~ rates ~ '.' ~ token_type
            ~ '_nanos_per_unit') -%}
    {%- endfor -%}
    {{ terms | join(' + ') }}
{%- endmacro %}
