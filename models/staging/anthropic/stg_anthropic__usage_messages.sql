{#-
    Anthropic messages usage unpivoted to one row per raw usage row × token label. Labels are
    the provider's field paths (dots, as in the cost report's `token_type`); zero counts are
    dropped.
-#}
{%- set raw = ('raw_anthropic', 'usage_messages') -%}
{%- set token_columns = {
    'uncached_input_tokens': 'uncached_input_tokens',
    'cache_read_input_tokens': 'cache_read_input_tokens',
    'cache_creation.ephemeral_5m_input_tokens': 'cache_creation__ephemeral_5m_input_tokens',
    'cache_creation.ephemeral_1h_input_tokens': 'cache_creation__ephemeral_1h_input_tokens',
    'output_tokens': 'output_tokens',
    'server_tool_use.web_search_requests': 'server_tool_use__web_search_requests',
} -%}

with

source as (

    {{ select_from_source(source('raw_anthropic', 'usage_messages')) }}

),

token_type_map as (

    select * from {{ ref('token_type_map') }}
    where provider = 'anthropic'

),

renamed as (

    select
        -- ids
        _row_key as usage_row_key,
        _billing_account_id as billing_account_id,
        {{ source_column(raw, 'workspace_id', 'varchar') }} as sub_account_id,
        {{ source_column(raw, 'api_key_id', 'varchar') }} as api_key_id,

        -- dimensions
        {{ source_column(raw, 'model', 'varchar') }} as model,
        {{ source_column(raw, 'service_tier', 'varchar') }} as service_tier,
        {{ source_column(raw, 'context_window', 'varchar') }} as context_window,

        -- quantities
        {%- for column in token_columns.values() %}
        cast(coalesce({{ source_column(raw, column, 'bigint') }}, 0) as bigint) as {{ column }},
        {%- endfor %}

        -- timestamps
        {{ rfc3339_to_timestamp('starting_at') }} as bucket_start_at,
        {{ rfc3339_to_timestamp('ending_at') }} as bucket_end_at,
        cast(_bucket_date as date) as bucket_date

    from source

),

unpivoted as (

    {%- for label, column in token_columns.items() %}
    select
        usage_row_key,
        billing_account_id,
        sub_account_id,
        api_key_id,
        model,
        service_tier,
        context_window,
        '{{ label }}' as source_token_type,
        {{ column }} as token_quantity,
        bucket_start_at,
        bucket_end_at,
        bucket_date
    from renamed
    where {{ column }} <> 0
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

final as (

    select
        unpivoted.usage_row_key,
        unpivoted.billing_account_id,
        unpivoted.sub_account_id,
        unpivoted.api_key_id,
        unpivoted.model,
        unpivoted.service_tier,
        unpivoted.context_window,
        unpivoted.source_token_type,
        coalesce(token_type_map.token_type, 'unknown') as token_type,
        unpivoted.token_quantity,
        token_type_map.consumed_unit,
        unpivoted.bucket_start_at,
        unpivoted.bucket_end_at,
        unpivoted.bucket_date
    from unpivoted
    left join token_type_map
        on unpivoted.source_token_type = token_type_map.source_token_type

)

select * from final
