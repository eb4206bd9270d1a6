{#-
    Azure OpenAI cost, one row per raw Query API row (UsageDate × Azure OpenAI account ×
    meter), in the billing currency (EUR for an EU billing account). The meter names the model,
    the token direction and the deployment type ("gpt-4o-0806 cchd Inp glbl 1M Tokens"):
    model = first word, unit = the trailing "1M Tokens" / "1K Tokens" / "Tokens", deployment =
    the word before the unit, direction = what is left, mapped by seeds/token_type_map
    (provider azure_openai). Region from the account's ResourceLocation (second query).
-#}
{%- set raw = ('raw_azure_openai', 'cost_by_meter') -%}

with

source as (

    {{ select_from_source(source('raw_azure_openai', 'cost_by_meter')) }}

),

locations_source as (

    {{ select_from_source(source('raw_azure_openai', 'resource_locations')) }}

),

token_type_map as (

    select * from {{ ref('token_type_map') }}
    where provider = 'azure_openai'

),

meter_units as (

    select * from {{ ref('azure_openai_meter_units') }}

),

resource_regions as (

    select
        lower(resource_id) as resource_key,
        min(lower(resource_location)) as region_id
    from locations_source
    group by lower(resource_id)

),

renamed as (

    select
        -- ids
        _row_key as cost_row_key,
        _billing_account_id as billing_account_id,
        {{ source_column(raw, 'resource_id', 'varchar') }} as resource_id,

        -- dimensions
        {{ source_column(raw, 'meter', 'varchar') }} as meter,
        cast(cost as varchar) as amount_text,
        currency as currency_text,

        -- quantities (in the meter's unit)
        {{ safe_cast_decimal(source_column(raw, 'usage_quantity', 'varchar')) }}
            as usage_quantity,

        -- money (billing currency)
        {{ safe_cast_decimal('cost') }} as billed_cost,

        -- timestamps: UsageDate is a yyyymmdd number; the landed `_bucket_date` is its day
        cast(usage_date as varchar) as bucket_start_text,
        cast(_bucket_date as timestamp) as bucket_start_at,
        cast(_bucket_date as date) as bucket_date

    from source

),

with_unit as (

    select
        renamed.*,
        meter_units.unit_suffix,
        meter_units.tokens_per_unit,
        row_number() over (
            partition by renamed.cost_row_key
            order by length(meter_units.unit_suffix) desc
        ) as unit_rank
    from renamed
    left join meter_units
        on right(renamed.meter, length(meter_units.unit_suffix) + 1)
        = ' ' || meter_units.unit_suffix

),

split as (

    select
        *,
        {{ split_on_last('meter_body', ' ', 'before') }} as model_and_direction,
        {{ split_on_last('meter_body', ' ', 'after') }} as deployment_type
    from (
        select
            with_unit.*,
            case
                when unit_suffix is not null
                    then left(meter, length(meter) - length(unit_suffix) - 1)
                else meter
            end as meter_body
        from with_unit
        where unit_rank = 1
    ) as unit_stripped

),

parsed as (

    select
        split.*,
        case
            when strpos(model_and_direction, ' ') > 0
                then left(model_and_direction, strpos(model_and_direction, ' ') - 1)
        end as model,
        case
            when strpos(model_and_direction, ' ') > 0
                then substr(model_and_direction, strpos(model_and_direction, ' ') + 1)
            else model_and_direction
        end as direction
    from split

),

final as (

    select
        parsed.cost_row_key,
        parsed.billing_account_id,
        -- the subscription: /subscriptions/{id}/resourceGroups/...
        case
            when lower(parsed.resource_id) like '/subscriptions/%'
                then split_part(parsed.resource_id, '/', 3)
        end as sub_account_id,
        parsed.resource_id,
        resource_regions.region_id,
        parsed.meter,
        parsed.model,
        parsed.direction as source_token_type,
        coalesce(token_type_map.token_type, 'unknown') as token_type,
        token_type_map.consumed_unit,
        parsed.deployment_type,
        upper(trim(parsed.currency_text)) as billing_currency,
        parsed.currency_text,
        parsed.amount_text,
        cast(parsed.usage_quantity * parsed.tokens_per_unit as {{ money_type() }})
            as consumed_quantity,
        parsed.billed_cost,
        parsed.bucket_start_text,
        parsed.bucket_start_at,
        parsed.bucket_date
    from parsed
    left join token_type_map
        on parsed.direction = token_type_map.source_token_type
    left join resource_regions
        on lower(parsed.resource_id) = resource_regions.resource_key

)

select * from final
