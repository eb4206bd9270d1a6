{#-
    OpenAI completions usage unpivoted to one row per raw usage row × token label.
    `input_tokens` includes cached and cache-write tokens, so the uncached input is
    input − cached − cache write (missing optional fields count as 0). Zero counts are dropped.
-#}
{%- set raw = ('raw_openai', 'usage_completions') -%}
{%- set cached = "coalesce(" ~ source_column(raw, 'input_cached_tokens', 'bigint') ~ ", 0)" -%}
{%- set cache_write =
    "coalesce(" ~ source_column(raw, 'input_cache_write_tokens', 'bigint') ~ ", 0)" -%}
{%- set token_columns = {
    'input_uncached_tokens': "coalesce(input_tokens, 0) - " ~ cached ~ " - " ~ cache_write,
    'input_cached_tokens': cached,
    'input_cache_write_tokens': cache_write,
    'output_tokens': "coalesce(output_tokens, 0)",
    'input_audio_tokens':
        "coalesce(" ~ source_column(raw, 'input_audio_tokens', 'bigint') ~ ", 0)",
    'output_audio_tokens':
        "coalesce(" ~ source_column(raw, 'output_audio_tokens', 'bigint') ~ ", 0)",
} -%}

with

source as (

    {{ select_from_source(source('raw_openai', 'usage_completions')) }}

),

token_type_map as (

    select * from {{ ref('token_type_map') }}
    where provider = 'openai'

),

renamed as (

    select
        -- ids
        _row_key as usage_row_key,
        _billing_account_id as billing_account_id,
        {{ source_column(raw, 'project_id', 'varchar') }} as sub_account_id,
        {{ source_column(raw, 'user_id', 'varchar') }} as user_id,
        {{ source_column(raw, 'api_key_id', 'varchar') }} as api_key_id,

        -- dimensions
        {{ source_column(raw, 'model', 'varchar') }} as model,
        cast({{ source_column(raw, 'batch', 'boolean') }} as boolean) as is_batch,
        {{ source_column(raw, 'service_tier', 'varchar') }} as service_tier,

        -- quantities
        {%- for label, expression in token_columns.items() %}
        cast({{ expression }} as bigint) as {{ label }},
        {%- endfor %}
        cast(num_model_requests as bigint) as num_model_requests,

        -- timestamps
        {{ unix_to_timestamp('start_time') }} as bucket_start_at,
        {{ unix_to_timestamp('end_time') }} as bucket_end_at,
        cast(_bucket_date as date) as bucket_date

    from source

),

unpivoted as (

    {%- for label in token_columns %}
    select
        usage_row_key,
        billing_account_id,
        sub_account_id,
        user_id,
        api_key_id,
        model,
        is_batch,
        service_tier,
        '{{ label }}' as source_token_type,
        {{ label }} as token_quantity,
        num_model_requests,
        bucket_start_at,
        bucket_end_at,
        bucket_date
    from renamed
    where {{ label }} <> 0
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

final as (

    select
        unpivoted.usage_row_key,
        unpivoted.billing_account_id,
        unpivoted.sub_account_id,
        unpivoted.user_id,
        unpivoted.api_key_id,
        unpivoted.model,
        unpivoted.is_batch,
        unpivoted.service_tier,
        unpivoted.source_token_type,
        coalesce(token_type_map.token_type, 'unknown') as token_type,
        unpivoted.token_quantity,
        token_type_map.consumed_unit,
        unpivoted.num_model_requests,
        unpivoted.bucket_start_at,
        unpivoted.bucket_end_at,
        unpivoted.bucket_date
    from unpivoted
    left join token_type_map
        on unpivoted.source_token_type = token_type_map.source_token_type

)

select * from final
