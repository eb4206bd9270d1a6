{{ config(materialized='view') }}
{#-
    The fact as a FOCUS 1.2 cost-and-usage dataset: one row per fact row, columns named
    exactly as the spec spells them (quoted, so PostgreSQL keeps the case), tokenledger's
    own columns prefixed `x_`. For tools that read FOCUS (FinOps hubs, FOCUS validators).
    Token charges are priced per million tokens (PricingUnit `1000000 Tokens`); unit prices
    are the bill's own (FOCUS exports) or the row's cost divided by its pricing quantity, so
    PricingQuantity × unit price equals the cost.
-#}

with

costs as (

    select * from {{ ref('fct_cost_and_usage') }}

),

-- token charges are priced per million tokens; other rows keep their own pricing unit
priced as (

    select
        costs.*,
        case
            when costs.pricing_unit = 'Tokens'
                then cast(costs.pricing_quantity / 1000000 as {{ money_type() }})
            else costs.pricing_quantity
        end as focus_pricing_quantity,
        case
            when costs.pricing_unit = 'Tokens' then '1000000 Tokens'
            else costs.pricing_unit
        end as focus_pricing_unit
    from costs

),

final as (

    select
        -- account
        priced.billing_account_id as "BillingAccountId",
        cast(null as {{ dbt.type_string() }}) as "BillingAccountName",
        priced.sub_account_id as "SubAccountId",
        cast(null as {{ dbt.type_string() }}) as "SubAccountName",

        -- charge origination
        priced.provider_name as "ProviderName",
        priced.publisher_name as "PublisherName",
        priced.invoice_issuer_name as "InvoiceIssuerName",

        -- service and SKU
        priced.service_name as "ServiceName",
        priced.service_category as "ServiceCategory",
        priced.service_subcategory as "ServiceSubcategory",
        priced.sku_id as "SkuId",
        priced.sku_price_id as "SkuPriceId",
        priced.region_id as "RegionId",
        priced.resource_id as "ResourceId",
        priced.x_tags as "Tags",

        -- charge
        priced.charge_category as "ChargeCategory",
        cast(null as {{ dbt.type_string() }}) as "ChargeClass",
        priced.charge_frequency as "ChargeFrequency",
        priced.charge_description as "ChargeDescription",
        case when priced.focus_pricing_quantity is not null then 'Standard' end
            as "PricingCategory",

        -- quantities (consumed only on usage rows)
        case when priced.charge_category = 'Usage' then priced.consumed_quantity end
            as "ConsumedQuantity",
        case when priced.charge_category = 'Usage' then priced.consumed_unit end
            as "ConsumedUnit",
        priced.focus_pricing_quantity as "PricingQuantity",
        priced.focus_pricing_unit as "PricingUnit",

        -- unit prices (billing currency per pricing unit): the bill's own when it states
        -- them per this unit, else the row's cost over its pricing quantity
        cast(
            case
                when priced.pricing_unit <> 'Tokens' and priced.list_unit_price is not null
                    then priced.list_unit_price
                else priced.list_cost / nullif(priced.focus_pricing_quantity, 0)
            end as decimal(38, 15)
        ) as "ListUnitPrice",
        cast(
            case
                when priced.pricing_unit <> 'Tokens' and priced.contracted_unit_price is not null
                    then priced.contracted_unit_price
                else priced.billed_cost / nullif(priced.focus_pricing_quantity, 0)
            end as decimal(38, 15)
        ) as "ContractedUnitPrice",

        -- money
        priced.billed_cost as "BilledCost",
        priced.effective_cost as "EffectiveCost",
        priced.list_cost as "ListCost",
        -- no commitment discounts are modelled: the contracted cost is what was billed
        priced.billed_cost as "ContractedCost",
        priced.billing_currency as "BillingCurrency",

        -- timeframe (UTC; ends exclusive)
        priced.charge_period_start as "ChargePeriodStart",
        priced.charge_period_end as "ChargePeriodEnd",
        priced.billing_period_start as "BillingPeriodStart",
        priced.billing_period_end as "BillingPeriodEnd",

        -- tokenledger extensions
        priced.x_provider as "x_Provider",
        priced.x_model as "x_Model",
        priced.x_token_type as "x_TokenType",
        priced.x_service_tier as "x_ServiceTier",
        priced.x_api_key_id as "x_ApiKeyId",
        priced.x_cost_row_key as "x_CostRowKey"

    from priced

)

select * from final
