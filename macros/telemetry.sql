{#-
    Incremental telemetry models: the UTC days that rows loaded since the model's last build
    touch (each format's staging view read for its load id, a scan of the new rows only), as a
    SQL list of date literals for `event_date in (...)` (a constant filter the engine pushes
    down to the raw scans). Re-written files get a new load id, so their days are redone.
-#}
{% macro telemetry_days_to_rebuild(this_relation) -%}
    {#- the refs are rendered at parse time too, so dbt knows the dependencies -#}
    {%- set format_models = [ref('stg_telemetry__events'), ref('stg_telemetry__otlp_spans'),
                             ref('stg_telemetry__litellm_spend_logs')] -%}
    {%- if not execute -%}
        {{ return("cast(null as date)") }}
    {%- endif -%}
    {%- set last = run_query("select max(last_load_id) from " ~ this_relation) -%}
    {%- set last_load_id = last.columns[0].values()[0] if last.rows | length > 0 else none -%}
    {%- set query -%}
        {%- for format_model in format_models %}
        select distinct cast(cast(occurred_at as date) as varchar(10)) as event_date
        from {{ format_model }}
        {%- if last_load_id is not none %}
        where load_id > '{{ last_load_id }}'
        {%- endif %}
        {%- if not loop.last %}
        union
        {%- endif %}
        {%- endfor %}
    {%- endset -%}
    {%- set days = run_query(query).columns[0].values() | reject('none') | list -%}
    {%- if days | length == 0 -%}
        {{ return("cast(null as date)") }}
    {%- endif -%}
    {%- set literals = [] -%}
    {%- for day in days | sort -%}
        {%- do literals.append("cast('" ~ day ~ "' as date)") -%}
    {%- endfor -%}
    {{ return(literals | join(', ')) }}
{%- endmacro %}

